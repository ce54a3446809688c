package chrome

import (
	"context"
	"strings"
	"testing"
)

// TestWatchConsoleFailure: a watch that cannot start (here, no tab in the
// context) is reported, so the browser suites' checks do not pass on it.
func TestWatchConsoleFailure(t *testing.T) {
	got := WatchConsole(context.Background())()
	if len(got) != 1 || !strings.Contains(got[0], "stopped early") {
		t.Errorf("console() = %q, want one entry saying the watch stopped early", got)
	}
}
