// Package redis_test is the end-to-end suite of bff with Redis: a real
// redis-server (one for the package, a database per test; a server of its
// own for a test that breaks it), the demo OP, and two replicas behind a
// round-robin front.
package redis_test

import (
	"maps"
	"net/http"
	"testing"
	"time"

	"bff/internal/bfftest"
)

func TestMain(m *testing.M) { bfftest.RedisMain(m) }

// withRedis starts a stack whose replicas share the database r.
func withRedis(t *testing.T, r *bfftest.Redis, o bfftest.StackOptions) *bfftest.Stack {
	t.Helper()
	env := map[string]string{"BFF_REDIS_URL": r.URL}
	maps.Copy(env, o.Env)
	o.Env = env
	return bfftest.NewStack(t, o)
}

// untilRefused polls the session endpoint on replica i with cookies until
// it answers 401, and returns how long that took. It fails the test
// after within.
func untilRefused(t *testing.T, s *bfftest.Stack, i int, cookies []*http.Cookie, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := s.OnReplica(i, cookies, http.MethodGet, "/auth/session")
		switch r.StatusCode {
		case http.StatusUnauthorized:
			if !bfftest.ExpiresSession(r) {
				t.Errorf("replica %d: 401 without expiring the session cookie: %q", i, r.Header.Values("Set-Cookie"))
			}
			return time.Since(start)
		case http.StatusOK:
		default:
			t.Fatalf("replica %d: %d %s", i, r.StatusCode, r.Text)
		}
		if time.Since(start) > within {
			t.Fatalf("replica %d still serves the session %v later", i, within)
		}
		time.Sleep(time.Millisecond)
	}
}

// newBrowser gives the stack a new browser: a client with an empty jar,
// so its next Login is a new session at the OP and at bff.
func newBrowser(t *testing.T, s *bfftest.Stack) {
	t.Helper()
	s.Client, s.Jar = bfftest.NewClient(t)
}

// logout logs the stack's client out through the logoutUrl bff gives it,
// as the SPA does.
func logout(t *testing.T, s *bfftest.Stack) bfftest.Response {
	t.Helper()
	return s.Get(s.LogoutURL())
}
