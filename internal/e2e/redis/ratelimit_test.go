package redis_test

import (
	"net/http"
	"testing"

	"bff/internal/bfftest"
)

// TestSharedLoginLimit: the login limit counts across replicas with
// Redis, so two replicas allow one burst, not two. Without it each
// replica counts alone.
func TestSharedLoginLimit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		redis    bool
		redirect int // logins let through of 12, round robin over 2 replicas
	}{
		{"redis", true, 5},
		{"stateless", false, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := bfftest.StackOptions{Replicas: 2, Env: map[string]string{"BFF_AUTH_RATE_LIMIT": "6"}} // burst 5
			var s *bfftest.Stack
			if tc.redis {
				s = withRedis(t, bfftest.RedisDB(t), o)
			} else {
				s = bfftest.NewStack(t, o)
			}
			statuses := map[int]int{}
			for range 12 {
				statuses[s.Get("/auth/login?returnTo=/").StatusCode]++
			}
			if statuses[http.StatusFound] != tc.redirect || statuses[http.StatusTooManyRequests] != 12-tc.redirect {
				t.Errorf("statuses %v, want %d redirects and the rest 429", statuses, tc.redirect)
			}
		})
	}
}
