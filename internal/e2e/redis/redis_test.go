// Package redis_test is the end-to-end suite of bff with Redis: a real
// redis-server (one for the package, a database per test; a server of its
// own for a test that breaks it), the demo OP, and two replicas behind a
// round-robin front.
package redis_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
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

// onReplica sends a request carrying cookies straight to replica i, past
// the front, as the SPA's JavaScript would (X-CSRF).
func onReplica(t *testing.T, s *bfftest.Stack, i int, cookies []*http.Cookie, method, path string) bfftest.Response {
	t.Helper()
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer c.CloseIdleConnections()
	var pairs []string
	for _, ck := range cookies {
		pairs = append(pairs, ck.Name+"="+ck.Value)
	}
	return bfftest.Do(t, c, method, "http://"+s.Replicas[i].Addr, path, nil,
		"X-CSRF", "1", "Cookie", strings.Join(pairs, "; "))
}

// untilRefused polls the session endpoint on replica i with cookies until
// it answers 401, and returns how long that took. It fails the test
// after within.
func untilRefused(t *testing.T, s *bfftest.Stack, i int, cookies []*http.Cookie, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		r := onReplica(t, s, i, cookies, http.MethodGet, "/auth/session")
		switch r.StatusCode {
		case http.StatusUnauthorized:
			if !expiresSession(r) {
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

// expiresSession reports whether r expires every session chunk it names,
// and names at least one.
func expiresSession(r bfftest.Response) bool {
	n := 0
	for _, line := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "__Host-bff-session") {
			if !strings.Contains(line, "Max-Age=0") {
				return false
			}
			n++
		}
	}
	return n > 0
}

// idTokenClaims are the claims of the last ID token the OP issued.
func idTokenClaims(t *testing.T, s *bfftest.Stack) map[string]any {
	t.Helper()
	tokens := s.OP.IssuedTokens()
	for _, tok := range slices.Backward(tokens) {
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			continue
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			continue
		}
		var claims map[string]any
		if json.Unmarshal(payload, &claims) == nil && claims["nonce"] != nil {
			return claims
		}
	}
	t.Fatal("the OP issued no ID token")
	return nil
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
	return s.Get(logoutURL(t, s))
}

// logoutURL is the session's logoutUrl.
func logoutURL(t *testing.T, s *bfftest.Stack) string {
	t.Helper()
	var session struct {
		LogoutURL string `json:"logoutUrl"`
	}
	if err := json.Unmarshal([]byte(s.API("/auth/session").Text), &session); err != nil || session.LogoutURL == "" {
		t.Fatalf("no logoutUrl in the session: %v", err)
	}
	return session.LogoutURL
}
