package redis_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// ready is what replica i's /readyz says.
func ready(t *testing.T, s *bfftest.Stack, i int) (int, string) {
	t.Helper()
	r := s.OnReplica(i, nil, http.MethodGet, "/readyz")
	return r.StatusCode, r.Text
}

// waitReady waits until replica i's /readyz answers want.
func waitReady(t *testing.T, s *bfftest.Stack, i, want int) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if st, _ := ready(t, s, i); st == want {
			return
		}
		if time.Now().After(deadline) {
			st, text := ready(t, s, i)
			t.Fatalf("replica %d /readyz: %d %s, want %d", i, st, text, want)
		}
	}
}

// waitRedisUnready waits until replica 0 has discovered the IdP and says
// it is not ready because of Redis; until discovery is done /readyz names
// the IdP.
func waitRedisUnready(t *testing.T, s *bfftest.Stack) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, text := ready(t, s, 0)
		if st == http.StatusServiceUnavailable && strings.Contains(text, "redis") {
			return
		}
		if st != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q, want 503 naming redis", st, text)
		}
	}
}

// wantStoreUnavailable checks a 503 problem that leaves the cookie alone.
func wantStoreUnavailable(t *testing.T, what string, r bfftest.Response) {
	t.Helper()
	if r.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		t.Errorf("%s: %d %q %s, want a 503 problem", what, r.StatusCode, r.Header.Get("Content-Type"), r.Text)
	}
	if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("%s: the 503 touched cookies: %q", what, sc)
	}
	if ra := r.Header.Get("Retry-After"); ra != "5" {
		t.Errorf("%s: Retry-After %q, want 5", what, ra)
	}
}

// TestRedisDownAtStart: bff starts, says it is not ready, answers 503 to
// what needs Redis, and serves normally once Redis comes up, by itself.
func TestRedisDownAtStart(t *testing.T) {
	redis := bfftest.StartRedis(t)
	redis.Stop()
	s := withRedis(t, redis, bfftest.StackOptions{Unready: true})
	waitRedisUnready(t, s)
	if r := s.Get("/healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d, want 200: the process is alive", r.StatusCode)
	}
	s.Login() // a session that fits a cookie needs no Redis to begin
	wantStoreUnavailable(t, "a request with a session", s.API("/api/x"))
	if !s.Upstream.Nothing() {
		t.Error("the upstream was called while Redis was down")
	}

	redis.Start()
	waitReady(t, s, 0, http.StatusOK)
	if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
		t.Errorf("with Redis up: %d, want 200", r.StatusCode)
	}
}

// TestRedisDownAtSignIn: with BFF_SESSION_STORE=redis every session lives
// in Redis, so a sign-in that cannot store one fails with the callback's
// store_unavailable, for a person to try again, and leaves no session.
func TestRedisDownAtSignIn(t *testing.T) {
	redis := bfftest.StartRedis(t)
	redis.Stop()
	s := withRedis(t, redis, bfftest.StackOptions{Unready: true, Env: map[string]string{"BFF_SESSION_STORE": "redis"}})
	waitRedisUnready(t, s)
	start := s.Get("/auth/login")
	r := s.Get(s.OP.Login(t, s.Client, start.Header.Get("Location")).RequestURI())
	code, err := bfftest.CallbackCode(r)
	if r.StatusCode != http.StatusServiceUnavailable || err != nil || code != "store_unavailable" {
		t.Errorf("callback with Redis down: %d, page %v, code %q; want 503 store_unavailable", r.StatusCode, err, code)
	}
	if ra := r.Header.Get("Retry-After"); ra != "5" {
		t.Errorf("callback with Redis down: Retry-After %q, want 5", ra)
	}
	if cs := s.SessionCookies(); len(cs) != 0 {
		t.Errorf("a failed sign-in left %d session cookies", len(cs))
	}
}

// TestRedisDiesMidTraffic: live sessions get 503 with their cookies kept,
// a revoked copy is not let through while Redis cannot say so, /readyz
// says not ready, and service resumes when Redis is back. Redis without
// persistence comes back empty: it forgets revocations and stored
// sessions, but never hands anyone another's session.
func TestRedisDiesMidTraffic(t *testing.T) {
	redis := bfftest.StartRedis(t)
	s := withRedis(t, redis, bfftest.StackOptions{Replicas: 2})

	s.Login()
	revoked := s.SessionCookies()
	if r := logout(t, s); r.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	newBrowser(t, s)
	s.Login()
	for range 2 {
		if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
			t.Fatalf("api: %d", r.StatusCode)
		}
	}
	s.Upstream.Drain()
	bye := s.LogoutURL()

	redis.Stop()
	for i := range s.Replicas {
		waitReady(t, s, i, http.StatusServiceUnavailable)
	}
	for i := range s.Replicas {
		wantStoreUnavailable(t, "a live session", s.OnReplica(i, s.SessionCookies(), http.MethodGet, "/api/x"))
		r := s.OnReplica(i, revoked, http.MethodGet, "/api/x")
		if r.StatusCode == http.StatusOK {
			t.Errorf("replica %d let a logged-out session through with Redis down", i)
		}
		wantStoreUnavailable(t, "a logged-out session", r)
	}
	wantStoreUnavailable(t, "logout", s.Get(bye))
	if !s.Upstream.Nothing() {
		t.Error("the upstream was called while Redis was down")
	}
	if logs := s.Logs.String(); !strings.Contains(logs, "redis: unreachable") {
		t.Error("no replica logged that Redis is unreachable")
	}

	redis.Start() // empty
	for i := range s.Replicas {
		waitReady(t, s, i, http.StatusOK)
		if r := s.OnReplica(i, s.SessionCookies(), http.MethodGet, "/api/x"); r.StatusCode != http.StatusOK {
			t.Errorf("replica %d with Redis back: %d, want the live session served", i, r.StatusCode)
		}
	}
}

// TestSlowRedis: a Redis that stops answering (DEBUG SLEEP) costs a
// request that must reach it a 503 within the store's 2 s deadline, not
// a hang; reads Redis has not invalidated are answered from memory
// meanwhile, and /readyz says not ready.
func TestSlowRedis(t *testing.T) {
	redis := bfftest.StartRedis(t)
	s := withRedis(t, redis, bfftest.StackOptions{})
	s.Login()
	if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
		t.Fatalf("api: %d", r.StatusCode)
	}
	bye := s.LogoutURL()
	awake := make(chan error, 1)
	go func() {
		_, err := redis.Do("DEBUG", "SLEEP", "4")
		awake <- err
	}()
	time.Sleep(100 * time.Millisecond)

	if r := s.API("/api/cached"); r.StatusCode != http.StatusOK {
		t.Errorf("a live session whose records are cached, Redis asleep: %d, want 200 from memory", r.StatusCode)
	}
	began := time.Now()
	other, _ := bfftest.NewClient(t)
	other.Jar.SetCookies(s.Public, s.Jar.Cookies(s.Public))
	r := bfftest.Get(t, other, s.Front.URL, bye)
	took := time.Since(began)
	wantStoreUnavailable(t, "logout with Redis asleep", r)
	if took > 3*time.Second {
		t.Errorf("logout with Redis asleep took %v, want the 2 s deadline", took)
	}
	t.Logf("a write with Redis asleep failed in %v", took.Round(time.Millisecond))

	waitReady(t, s, 0, http.StatusServiceUnavailable)
	if err := <-awake; err != nil {
		t.Fatal(err)
	}
	waitReady(t, s, 0, http.StatusOK)
	// The logout was sent before its deadline passed, and Redis carried it
	// out on waking: a logout that answered 503 may still take effect,
	// which errs on the safe side.
	if r := s.API("/api/x"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("Redis awake, the session whose logout timed out: %d, want 401", r.StatusCode)
	}
	newBrowser(t, s)
	s.Login()
	if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
		t.Errorf("Redis awake, a new session: %d, want 200", r.StatusCode)
	}

	// A session this replica has not checked yet needs a round trip, which
	// a sleeping Redis does not answer: 503 at the store's 2 s deadline,
	// not a hang.
	newBrowser(t, s)
	s.Login()
	go func() {
		_, err := redis.Do("DEBUG", "SLEEP", "4")
		awake <- err
	}()
	time.Sleep(100 * time.Millisecond)
	began = time.Now()
	r = s.API("/api/uncached")
	took = time.Since(began)
	wantStoreUnavailable(t, "a first read with Redis asleep", r)
	if took > 3*time.Second {
		t.Errorf("a first read with Redis asleep took %v, want the 2 s deadline", took)
	}
	t.Logf("a read the cache could not answer, Redis asleep, failed in %v", took.Round(time.Millisecond))
	if err := <-awake; err != nil {
		t.Fatal(err)
	}
	waitReady(t, s, 0, http.StatusOK)
	if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
		t.Errorf("Redis awake again: %d, want 200", r.StatusCode)
	}
}
