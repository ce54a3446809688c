package bfftest

import "testing"

// TestBuildOnce: a second Build with the same tags links nothing and
// returns the first one's binary.
func TestBuildOnce(t *testing.T) {
	first := Build(t)
	if again := Build(t); again != first {
		t.Errorf("Build again: %s, want %s", again, first)
	}
}
