package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestUntrustedProxyWarning: behind a proxy bff was not told to trust,
// every browser shares the proxy's address and one login limit, which the
// operator must hear about, once.
func TestUntrustedProxyWarning(t *testing.T) {
	var logs strings.Builder
	key := clientAddress(slog.New(slog.NewTextHandler(&logs, nil)), nil)
	for range 3 {
		r := httptest.NewRequest(http.MethodGet, "/auth/login", nil)
		r.RemoteAddr = "10.1.2.3:4567"
		r.Header.Set("X-Forwarded-For", "203.0.113.9")
		if got := key(r); got != netip.MustParseAddr("10.1.2.3") {
			t.Errorf("key %v, want the untrusted peer", got)
		}
	}
	if n := strings.Count(logs.String(), "BFF_TRUSTED_PROXIES is empty"); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
	trusted := clientAddress(slog.New(slog.NewTextHandler(&logs, nil)), []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	r := httptest.NewRequest(http.MethodGet, "/auth/login", nil)
	r.RemoteAddr = "10.1.2.3:4567"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	if got := trusted(r); got != netip.MustParseAddr("203.0.113.9") {
		t.Errorf("behind a trusted proxy: key %v, want the client", got)
	}
}
