// Package testutil holds the few helpers bff's tests in several packages
// share. Nothing outside tests imports it.
package testutil

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is real time plus an offset that tests move forward. The in-process
// OP stamps real time into its tokens; bff, given Clock.Now, judges them by
// the moved time, so a test can jump past an expiry without waiting.
type Clock struct{ offset atomic.Int64 }

// Now is the moved time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// SyncBuffer is an io.Writer for logs that handlers on many goroutines
// write while the test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
