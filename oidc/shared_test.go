package oidc_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/oidc"
)

// withShared gives bff an in-memory shared store.
func withShared(shared *memShared) func(*oidc.Config) {
	return func(c *oidc.Config) { c.Shared = shared }
}

// apiRequest is an API call with cookies, as the proxy hands it to
// AccessToken, and a writer that keeps the headers it is answered with.
func apiRequest(cookies []*http.Cookie) (*headerWriter, *http.Request) {
	r := httptest.NewRequest(http.MethodGet, "/api/orders/7", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return &headerWriter{h: http.Header{}}, r
}

// TestHandleSessionFollowsItsRecord: a replica keeps a session kept in the
// shared store opened for as long as the store holds the record it was
// opened from. A refresh on another replica rewrites the record under the
// same handle, and this replica then serves the new tokens; a record gone
// is a session gone; a store that cannot answer is unavailable.
func TestHandleSessionFollowsItsRecord(t *testing.T) {
	shared := newMemShared()
	e := newEnv(t, withShared(shared), func(c *oidc.Config) { c.SessionStore = "redis" })
	e.login()
	cookies := e.sessionCookies()
	w, r := apiRequest(cookies)
	first, err := e.auth.AccessToken(w, r)
	if err != nil {
		t.Fatal(err)
	}
	// Opening it again (AES-GCM, decoding, the sid, the end keys' hashes)
	// costs some 40 allocations; a session opened before costs the store's
	// reads.
	if n := testing.AllocsPerRun(100, func() { _, _ = e.auth.AccessToken(w, r) }); n > 6 {
		t.Errorf("AccessToken of a handle session opened before: %v allocations, want at most 6", n)
	}

	// Another replica, same keys and store, whose clock is past the access
	// token's expiry.
	later := &bfftest.Clock{}
	later.Advance(2 * time.Minute)
	cfg := e.cfg
	cfg.Now = later.Now
	other := discovered(t, cfg)
	w2, r2 := apiRequest(cookies)
	refreshed, err := other.AccessToken(w2, r2)
	if err != nil || refreshed == first || w2.h.Get("Set-Cookie") == "" {
		t.Fatalf("the other replica did not refresh: %v (new token: %t)", err, refreshed != first)
	}
	// A request with the cookie the browser had reaches this replica.
	if got, err := e.auth.AccessToken(w, r); err != nil || got != refreshed {
		t.Errorf("after a refresh on another replica: %v; the refreshed token: %t", err, got == refreshed)
	}
	if n := e.op.Counts().RefreshGrants; n != 1 {
		t.Errorf("%d refresh grants, want 1", n)
	}

	shared.setDown(true)
	if _, err := e.auth.AccessToken(w, r); !errors.Is(err, oidc.ErrStoreUnavailable) {
		t.Errorf("with the store down: %v, want ErrStoreUnavailable", err)
	}
	shared.setDown(false)
	for k := range shared.withPrefix("bff:session:") {
		if err := shared.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.auth.AccessToken(w, r); !errors.Is(err, oidc.ErrNoSession) {
		t.Errorf("with the record gone: %v, want ErrNoSession", err)
	}
}

// TestLogoutRecordLivesByTheInjectedClock: the record that ends a session
// on every replica lives until the session would have ended, by bff's
// clock, not the machine's.
func TestLogoutRecordLivesByTheInjectedClock(t *testing.T) {
	shared := newMemShared()
	e := newEnv(t, withShared(shared), func(c *oidc.Config) { c.SessionIdle = c.SessionMaxAge })
	e.login()
	left := time.Hour
	e.clock.Advance(e.cfg.SessionMaxAge - left)
	if resp := e.get(logoutURL(t, e)); resp.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d %s", resp.StatusCode, body(t, resp))
	}
	ends := shared.withPrefix("bff:end:")
	if len(ends) != 1 {
		t.Fatalf("%d end records, want 1", len(ends))
	}
	for _, rec := range ends {
		if rec.ttl <= 0 || rec.ttl > left+2*time.Minute {
			t.Errorf("the end record lives %v, want about %v: the session's time left, and a minute", rec.ttl, left+time.Minute)
		}
	}
}
