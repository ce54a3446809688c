package redis_test

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// bigTokens is an OPOptions.Wrap that makes every access token the OP
// issues 12 KB long, as an Entra ID token with many group claims is. bff
// treats access tokens as opaque, so the padding travels to the upstream
// as it came.
var bigTokens = bfftest.RewriteToken("", "access_token", func(old any) any {
	pad := make([]byte, 9<<10)
	rand.Read(pad)
	return old.(string) + "~" + base64.RawURLEncoding.EncodeToString(pad)
})

// cookieBytes is the size of the Cookie header the session cookies make.
func cookieBytes(cs []*http.Cookie) int {
	n := 0
	for i, c := range cs {
		if i > 0 {
			n += 2 // "; "
		}
		n += len(c.Name) + 1 + len(c.Value)
	}
	return n
}

// TestLargeSession: a token set too large for the cookie chunks allowed.
func TestLargeSession(t *testing.T) {
	t.Run("stateless, default limit", func(t *testing.T) {
		s := bfftest.NewStack(t, bfftest.StackOptions{OP: bfftest.OPOptions{Wrap: bigTokens}})
		start := s.Get("/auth/login")
		cb := s.OP.Login(t, s.Client, start.Header.Get("Location"))
		r := s.Get(cb.RequestURI())
		if r.StatusCode != http.StatusBadGateway || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("callback: %d %q, want the 502 error page", r.StatusCode, r.Header.Get("Content-Type"))
		}
		if code, err := bfftest.CallbackCode(r); err != nil || code != "session_too_large" {
			t.Errorf("callback: page %v, code %q; want session_too_large", err, code)
		}
		if cs := s.SessionCookies(); len(cs) != 0 {
			t.Errorf("a failed sign-in left %d session cookies", len(cs))
		}
		logs := s.Logs.String()
		if !strings.Contains(logs, "BFF_REDIS_URL") || !strings.Contains(logs, "BFF_MAX_COOKIE_CHUNKS") {
			t.Error("no log line names BFF_REDIS_URL and BFF_MAX_COOKIE_CHUNKS")
		}
	})

	t.Run("stateless, raised limit", func(t *testing.T) {
		s := bfftest.NewStack(t, bfftest.StackOptions{
			OP: bfftest.OPOptions{Wrap: bigTokens}, Env: map[string]string{"BFF_MAX_COOKIE_CHUNKS": "10"},
		})
		s.Login()
		cs := s.SessionCookies()
		t.Logf("a 12 KB access token without Redis: %d chunks, a %d-byte Cookie header", len(cs), cookieBytes(cs))
		if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
			t.Fatalf("api: %d", r.StatusCode)
		}
	})

	t.Run("redis", func(t *testing.T) {
		db := bfftest.RedisDB(t)
		s := withRedis(t, db, bfftest.StackOptions{Replicas: 2, OP: bfftest.OPOptions{Wrap: bigTokens}})
		s.Login()
		cs := s.SessionCookies()
		t.Logf("a 12 KB access token with Redis: %d chunk, a %d-byte Cookie header", len(cs), cookieBytes(cs))
		if len(cs) != 1 || len(cs[0].Value) > 300 {
			t.Fatalf("session cookies %d, first %d bytes; want one handle of at most 300", len(cs), len(cs[0].Value))
		}
		for range 2 { // both replicas
			if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
				t.Fatalf("api: %d", r.StatusCode)
			}
			if saw := s.Upstream.Last(t); len(saw.Authorization) < 12<<10 {
				t.Errorf("the upstream got a %d-byte Authorization, want the 12 KB token", len(saw.Authorization))
			}
		}
		keys := db.Keys()
		if len(keys) != 1 || !strings.HasPrefix(keys[0], "bff:session:") {
			t.Fatalf("Redis keys %q, want one session record", keys)
		}
		if ttl, _ := db.Do("PTTL", keys[0]); ttl.(int64) <= 0 {
			t.Errorf("the session record has TTL %v, want it to expire with the session", ttl)
		}
		t.Logf("its record in Redis: %d bytes of value, %v bytes of memory", len(db.Value(keys[0])), memoryUsage(t, db, keys[0]))

		// A refresh rewrites the record behind the same kind of handle.
		s.Clock.Advance(2 * time.Minute)
		if r := s.API("/api/y"); r.StatusCode != http.StatusOK {
			t.Fatalf("api after expiry: %d", r.StatusCode)
		}
		if c := s.OP.Counts(); c.RefreshGrants != 1 {
			t.Errorf("%d refresh grants, want 1", c.RefreshGrants)
		}
		if r := s.API("/api/z"); r.StatusCode != http.StatusOK {
			t.Fatalf("api after the refresh: %d", r.StatusCode)
		}

		handle := s.SessionCookies()
		if r := logout(t, s); r.StatusCode != http.StatusFound {
			t.Fatalf("logout: %d", r.StatusCode)
		}
		for _, k := range db.Keys() {
			if strings.HasPrefix(k, "bff:session:") {
				t.Errorf("logout left the session record %s", k)
			}
		}
		for i := range s.Replicas {
			if r := s.OnReplica(i, handle, http.MethodGet, "/auth/session"); r.StatusCode != http.StatusUnauthorized {
				t.Errorf("replica %d: the handle after logout: %d, want 401", i, r.StatusCode)
			}
		}
	})

	t.Run("BFF_SESSION_STORE=redis", func(t *testing.T) {
		db := bfftest.RedisDB(t)
		s := withRedis(t, db, bfftest.StackOptions{Env: map[string]string{"BFF_SESSION_STORE": "redis"}})
		s.Login()
		if cs := s.SessionCookies(); len(cs) != 1 || len(cs[0].Value) > 300 {
			t.Fatalf("session cookies %d; want one handle of at most 300 bytes", len(cs))
		}
		for _, k := range db.Keys() {
			t.Logf("the demo OP's token set in Redis: %d bytes of value, %v bytes of memory", len(db.Value(k)), memoryUsage(t, db, k))
		}
		if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
			t.Fatalf("api: %d", r.StatusCode)
		}
		// A Redis that lost its data loses the session, and nothing else
		// takes its place.
		if _, err := db.Do("FLUSHDB"); err != nil {
			t.Fatal(err)
		}
		r := s.API("/api/x")
		if r.StatusCode != http.StatusUnauthorized || !bfftest.ExpiresSession(r) {
			t.Errorf("after the record was lost: %d %q, want 401 and the cookie expired", r.StatusCode, r.Header.Values("Set-Cookie"))
		}
	})
}

// TestNothingInRedisRevealsAToken: keys are hashes, values are sealed.
func TestNothingInRedisRevealsAToken(t *testing.T) {
	db := bfftest.RedisDB(t)
	s := withRedis(t, db, bfftest.StackOptions{Replicas: 2, Env: map[string]string{"BFF_SESSION_STORE": "redis"}})
	s.Login()
	s.Clock.Advance(2 * time.Minute)
	for range 2 {
		if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
			t.Fatalf("api: %d", r.StatusCode)
		}
	}
	session := s.API("/auth/session").Text
	secrets := append(s.Secrets(), s.OP.IssuedTokens()...)
	for _, claim := range []string{"demo-user", "demo@example.com"} {
		if !strings.Contains(session, claim) {
			t.Fatalf("the session does not show %q", claim)
		}
		secrets = append(secrets, claim)
	}
	keys := db.Keys()
	if len(keys) < 2 {
		t.Fatalf("Redis holds %q, want a session record and a refresh result at least", keys)
	}
	for _, k := range keys {
		v := db.Value(k)
		for _, secret := range secrets {
			for _, part := range strings.Split(secret, ".") { // each part of a JWT on its own
				if len(part) >= 8 && (strings.Contains(k, part) || strings.Contains(v, part)) {
					t.Errorf("Redis key %s reveals a secret, a token or an identifier", k)
				}
			}
		}
	}
}

// memoryUsage is what Redis says key costs it, overhead included.
func memoryUsage(t *testing.T, db *bfftest.Redis, key string) any {
	t.Helper()
	n, err := db.Do("MEMORY", "USAGE", key)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
