package telemetry

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestID: a sane incoming X-Request-Id is kept; anything else is
// replaced by a fresh id. Either way the handler behind (and so the
// upstream) and the browser see the same one.
func TestRequestID(t *testing.T) {
	var seen string
	h := AccessLog(slog.New(slog.NewTextHandler(io.Discard, nil)), NewMetrics(), func(*http.Request) string { return "/api/" },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Get(RequestIDHeader) }))
	generated := map[string]bool{}
	for _, tc := range []struct {
		incoming string
		keep     bool
	}{
		{"req-1.A_b", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"a b", false},
		{"a\"b", false},
		{"ä", false},
		{"", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/api/x", nil)
		if tc.incoming != "" {
			r.Header.Set(RequestIDHeader, tc.incoming)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get(RequestIDHeader)
		if got != seen {
			t.Errorf("incoming %q: browser got %q, handler %q", tc.incoming, got, seen)
		}
		switch {
		case tc.keep && got != tc.incoming:
			t.Errorf("incoming %q replaced by %q", tc.incoming, got)
		case !tc.keep && (len(got) != 16 || !saneRequestID(got) || generated[got]):
			t.Errorf("incoming %q: generated %q (want 16 fresh base32 characters)", tc.incoming, got)
		case !tc.keep:
			generated[got] = true
		}
	}
}

// TestNewRequestIDDistinct: generated ids do not repeat and use the whole
// alphabet.
func TestNewRequestIDDistinct(t *testing.T) {
	const n = 100_000
	ids := make(map[string]bool, n)
	chars := map[rune]bool{}
	for range n {
		id := newRequestID()
		if ids[id] {
			t.Fatalf("id %q repeated", id)
		}
		ids[id] = true
		for _, c := range id {
			chars[c] = true
		}
	}
	if len(chars) != 32 {
		t.Errorf("ids use %d characters, want the 32 of base32", len(chars))
	}
}
