package bfftest

import (
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
