package main

import (
	"net/http"
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
	// The front is a proxy bff was not told to trust: every browser behind
	// it shares its address, which the operator must hear about.
	if n := strings.Count(s.logs.String(), "BFF_TRUSTED_PROXIES is empty"); n != 1 {
		t.Errorf("untrusted X-Forwarded-For warned %d times, want once", n)
	}
	// Only the IdP-bound endpoints are limited.
	if r := s.get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("session endpoint: %d, want 401 (not limited)", r.StatusCode)
	}
}
