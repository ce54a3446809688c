package e2e

import (
	"bff/internal/bfftest"
	"net/http"
	"testing"
)

func TestLoginRateLimit(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{Env: map[string]string{"BFF_AUTH_RATE_LIMIT": "6"}}) // burst 5, then one every 10 s
	statuses := map[int]int{}
	for range 8 {
		statuses[s.Get("/auth/login?returnTo=/").StatusCode]++
	}
	if statuses[http.StatusFound] != 5 || statuses[http.StatusTooManyRequests] != 3 {
		t.Fatalf("statuses %v, want 5 redirects then 3 refusals", statuses)
	}
	r := s.Get("/auth/callback?state=x")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" ||
		r.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("callback over the limit: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
	}
	// Only the IdP-bound endpoints are limited.
	if r := s.Get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("session endpoint: %d, want 401 (not limited)", r.StatusCode)
	}
}
