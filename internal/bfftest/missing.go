package bfftest

import (
	"fmt"
	"os"
	"testing"
)

// Missing skips the test for want of something it needs, saying what; on
// CI (CI=true), which installs everything the suites use, it fails it, so a
// broken install is not a green run.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but " + msg)
	}
	t.Skip(msg)
}
