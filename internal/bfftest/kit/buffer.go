// Package kit is the part of bff's test fixture that imports nothing of
// bff's own, so that the tests inside the packages bfftest builds on
// (cookie, proxy, oidc) can use it as well as every suite.
package kit

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
