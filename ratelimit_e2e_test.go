package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestLoginRateLimit(t *testing.T) {
	s := newStack(t, stackOptions{authRate: 6}) // burst 5, then one every 10 s
	statuses := map[int]int{}
	for range 8 {
		statuses[s.get("/auth/login?returnTo=/").StatusCode]++
	}
	if statuses[http.StatusFound] != 5 || statuses[http.StatusTooManyRequests] != 3 {
		t.Fatalf("statuses %v, want 5 redirects then 3 refusals", statuses)
	}
	r := s.get("/auth/callback?state=x")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" ||
		r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("callback over the limit: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// Only the IdP-bound endpoints are limited.
	if r := s.get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("session endpoint: %d, want 401 (not limited)", r.StatusCode)
	}
}

// TestUntrustedProxyWarning: behind a proxy bff was not told to trust,
// every browser shares the proxy's address and one login limit, which the
// operator must hear about, once.
func TestUntrustedProxyWarning(t *testing.T) {
	var logs syncBuffer
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
