package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"bff/internal/bfftest"
	"bff/internal/server"
)

// TestSecurityHeaders checks what every response bff writes carries, with
// HSTS only when the public origin is https.
func TestSecurityHeaders(t *testing.T) {
	op := bfftest.StartOP(t, bfftest.MustURL(t, "https://app.example.com"), bfftest.OPOptions{})
	for _, tc := range []struct {
		public   string
		wantHSTS bool
	}{
		{"https://app.example.com", true},
		{"http://127.0.0.1:8080", false},
	} {
		public, _ := url.Parse(tc.public)
		cfg := bfftest.Load(t, bfftest.Env(op, public, bfftest.NewKey(t)))
		srv, err := server.New(cfg, slog.New(slog.DiscardHandler), server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/healthz", "/auth/session", "/nowhere"} {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			h := rec.Header()
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s %s: headers %v", tc.public, path, h)
			}
			if got := h.Get("Strict-Transport-Security") != ""; got != tc.wantHSTS {
				t.Errorf("%s %s: HSTS present %v, want %v", tc.public, path, got, tc.wantHSTS)
			}
			if rec.Code >= 400 && h.Get("Content-Security-Policy") == "" {
				t.Errorf("%s %s: error page without a CSP", tc.public, path)
			}
			for name := range h {
				if strings.HasPrefix(name, "Access-Control-") {
					t.Errorf("%s: CORS header %s with no allow-list", path, name)
				}
			}
		}
	}
}
