// Package logsink is where tests send the logs of servers they run: an
// io.Writer that handlers on many goroutines write while the test reads.
// It imports nothing of bff's, so every package's tests can use it.
package logsink

import (
	"strings"
	"sync"
)

// Buffer is an io.Writer for logs that handlers on many goroutines
// write while the test reads.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
