package redis_test

import (
	"net/http"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// TestLogoutEverywhere: with Redis, a copy of the cookie (another tab, a
// stolen copy) stops working on every replica once the session logs out;
// without it, the copy lives on until it expires, which is what Redis is
// for.
func TestLogoutEverywhere(t *testing.T) {
	for _, redis := range []bool{true, false} {
		name := map[bool]string{true: "redis", false: "stateless"}[redis]
		t.Run(name, func(t *testing.T) {
			o := bfftest.StackOptions{Replicas: 2}
			var s *bfftest.Stack
			var db *bfftest.Redis
			if redis {
				db = bfftest.RedisDB(t)
				s = withRedis(t, db, o)
			} else {
				s = bfftest.NewStack(t, o)
			}
			s.Login()
			copied := s.SessionCookies()
			for i := range s.Replicas { // both replicas serve the copy, and cache it
				if r := onReplica(t, s, i, copied, http.MethodGet, "/auth/session"); r.StatusCode != http.StatusOK {
					t.Fatalf("replica %d before logout: %d", i, r.StatusCode)
				}
			}
			if r := logout(t, s); r.StatusCode != http.StatusFound {
				t.Fatalf("logout: %d %s", r.StatusCode, r.Text)
			}
			if !redis {
				for i := range s.Replicas {
					if r := onReplica(t, s, i, copied, http.MethodGet, "/auth/session"); r.StatusCode != http.StatusOK {
						t.Errorf("stateless replica %d: a copied cookie after logout: %d, want 200 (it lives until it expires)", i, r.StatusCode)
					}
				}
				return
			}
			for i := range s.Replicas {
				took := untilRefused(t, s, i, copied, time.Second)
				t.Logf("replica %d refused the copied cookie %v after logout", i, took)
				if r := onReplica(t, s, i, copied, http.MethodGet, "/api/x"); r.StatusCode != http.StatusUnauthorized {
					t.Errorf("replica %d proxied for an ended session: %d", i, r.StatusCode)
				}
			}
			if !s.Upstream.Nothing() {
				t.Error("the upstream was called for an ended session")
			}
			for _, k := range db.Keys() {
				t.Logf("Redis holds %s: %v bytes of memory", k[:len("bff:end:")], memoryUsage(t, db, k))
			}
		})
	}
}
