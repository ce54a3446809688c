package bfftest

import (
	"runtime"
	"testing"
)

// outcome records whether a test was failed or skipped; both end the
// calling goroutine, as the testing package's do.
type outcome struct {
	testing.TB
	failed, skipped bool
}

func (o *outcome) Helper()               {}
func (o *outcome) Fatal(...any)          { o.failed = true; runtime.Goexit() }
func (o *outcome) Skip(...any)           { o.skipped = true; runtime.Goexit() }
func (o *outcome) Fatalf(string, ...any) { o.failed = true; runtime.Goexit() }
func (o *outcome) Skipf(string, ...any)  { o.skipped = true; runtime.Goexit() }

// TestMissing: a missing prerequisite skips a test, except on CI, where it
// fails it.
func TestMissing(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		o := &outcome{}
		done := make(chan struct{})
		go func() {
			defer close(done)
			Missing(o, "no %s", "tool")
		}()
		<-done
		if o.failed != (ci == "true") || o.skipped != (ci != "true") {
			t.Errorf("CI=%q: failed %v, skipped %v", ci, o.failed, o.skipped)
		}
	}
}
