package oidc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bff/demo/idp/idptest"
	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
	"bff/oidc"
)

const bclEvent = "http://schemas.openid.net/event/backchannel-logout"

// postLogout posts body to auth's back-channel logout endpoint, as an IdP
// does.
func postLogout(auth http.Handler, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/auth/backchannel-logout", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	auth.ServeHTTP(rec, req)
	return rec
}

// logoutClaims are a good logout token's from op, for sid and sub when
// they are not "", issued at iat.
func logoutClaims(op *bfftest.OP, sid, sub string, iat time.Time) map[string]any {
	c := map[string]any{
		"iss": op.Issuer, "aud": op.ClientID, "iat": iat.Unix(), "jti": rand.Text(),
		"events": map[string]any{bclEvent: map[string]any{}},
	}
	if sid != "" {
		c["sid"] = sid
	}
	if sub != "" {
		c["sub"] = sub
	}
	return c
}

// loginSID signs e's browser in and returns the sid of its ID token.
func loginSID(t *testing.T, e *env) string {
	t.Helper()
	e.login()
	sid, _ := e.op.IDTokenClaims(t)["sid"].(string)
	if sid == "" {
		t.Fatal("the ID token has no sid")
	}
	return sid
}

// TestForgedLogoutTokensFetchKeysAtTheLimit: logout tokens naming keys
// the IdP never published, from anyone, make bff fetch the IdP's keys no
// more often than its limit; a key the IdP rotates in still works, once
// the limit allows a fetch, and the IdP is told when to retry until then.
func TestForgedLogoutTokensFetchKeysAtTheLimit(t *testing.T) {
	next := bfftest.NewSigningKey(t) // the key the IdP rotates to
	var rotated atomic.Bool
	var fetches atomic.Int64 // of the OP's JWKS
	rotating := func(h http.Handler) http.Handler {
		published := next.Publish(h)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == bfftest.IdPPath+"/keys" {
				fetches.Add(1)
			}
			if rotated.Load() {
				published.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	e := newEnvOP(t, bfftest.OPOptions{Wrap: rotating}, withShared(newMemShared()))
	sid := loginSID(t, e)

	forger := bfftest.NewSigningKey(t)
	before := fetches.Load()
	const n = 50
	for range n {
		rec := postLogout(e.auth, "logout_token="+forger.SignAs(t, rand.Text(), logoutClaims(e.op, sid, "", e.clock.Now())))
		if rec.Code != http.StatusBadRequest && (rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "") {
			t.Fatalf("a forged token: %d %s, want 400, or 503 with Retry-After", rec.Code, rec.Body)
		}
	}
	if got := fetches.Load() - before; got > 2 {
		t.Errorf("%d forged logout tokens made bff fetch the OP's keys %d times, want at most 2 (the limit's burst)", n, got)
	}

	rotated.Store(true)
	token := next.Sign(t, logoutClaims(e.op, sid, "", e.clock.Now()))
	rec := postLogout(e.auth, "logout_token="+token)
	wait, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if rec.Code != http.StatusServiceUnavailable || err != nil || wait < 1 || wait > 10 {
		t.Fatalf("a token signed with a key just rotated in, the limit spent: %d, Retry-After %q; want 503 and at most 10 s",
			rec.Code, rec.Header().Get("Retry-After"))
	}
	e.clock.Advance(time.Duration(wait) * time.Second)
	if rec := postLogout(e.auth, "logout_token="+token); rec.Code != http.StatusOK {
		t.Fatalf("the same token after Retry-After: %d %s, want 200", rec.Code, rec.Body)
	}
	if resp := e.get("/api/x"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session after its back-channel logout: %d, want 401", resp.StatusCode)
	}

	// A forged token naming a key bff holds is no reason to fetch.
	before = fetches.Load()
	e.clock.Advance(time.Minute)
	if rec := postLogout(e.auth, "logout_token="+forger.SignAs(t, next.KID, logoutClaims(e.op, sid, "", e.clock.Now()))); rec.Code != http.StatusBadRequest {
		t.Errorf("forged with a published kid: %d, want 400", rec.Code)
	}
	if got := fetches.Load() - before; got != 0 {
		t.Errorf("a token forged with a published kid made bff fetch the keys %d times, want 0", got)
	}
}

// dropRefreshedSID is an OP Wrap that re-signs, with key, the ID tokens
// of refresh grants without their sid, as OpenID Connect allows.
func dropRefreshedSID(t *testing.T, key *bfftest.SigningKey, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, idptest.TokenPath) || r.ParseForm() != nil || r.PostForm.Get("grant_type") != "refresh_token" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var resp map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp["id_token"] == nil {
			t.Errorf("the OP's refresh answer holds no ID token: %d", rec.Code)
			http.Error(w, "no id token", http.StatusBadGateway)
			return
		}
		var claims map[string]any
		if err := kit.UnverifiedClaims(resp["id_token"].(string), &claims); err != nil {
			t.Errorf("the OP's refreshed ID token: %v", err)
			http.Error(w, "bad id token", http.StatusBadGateway)
			return
		}
		delete(claims, "sid")
		claims["exp"] = time.Now().Add(time.Hour).Unix() // past the test's clock
		resp["id_token"] = key.Sign(t, claims)
		var out bytes.Buffer
		_ = json.NewEncoder(&out).Encode(resp)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(out.Bytes())
	})
}

// TestBackchannelLogoutAfterRefreshWithoutSID: a refreshed ID token may
// leave sid out; the session still ends when the IdP logs that sid out.
func TestBackchannelLogoutAfterRefreshWithoutSID(t *testing.T) {
	key := bfftest.NewSigningKey(t)
	wrap := func(h http.Handler) http.Handler { return key.Publish(dropRefreshedSID(t, key, h)) }
	e := newEnvOP(t, bfftest.OPOptions{Wrap: wrap}, withShared(newMemShared()))
	sid := loginSID(t, e)
	e.clock.Advance(2 * time.Minute) // past the access token's expiry
	if resp := e.get("/api/x"); resp.StatusCode != http.StatusOK {
		t.Fatalf("the refreshing request: %d %s", resp.StatusCode, body(t, resp))
	}
	if n := e.op.Counts().RefreshGrants; n != 1 {
		t.Fatalf("%d refresh grants, want 1", n)
	}
	if rec := postLogout(e.auth, "logout_token="+key.Sign(t, logoutClaims(e.op, sid, "", e.clock.Now()))); rec.Code != http.StatusOK {
		t.Fatalf("logout token: %d %s", rec.Code, rec.Body)
	}
	if resp := e.get("/api/x"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session after the IdP logged its sid out: %d, want 401", resp.StatusCode)
	}
}

// staleReads is a replica's view of the shared store before it has heard
// of another replica's writes: every read finds nothing.
type staleReads struct{ oidc.Shared }

func (staleReads) GetCached(_ context.Context, keys ...string) ([]string, error) {
	return make([]string, len(keys)), nil
}

// TestSubjectLogoutNeverMovesBack: of two logout tokens for a subject,
// the later cut-off stands, whichever replica hears of the earlier one
// last, and whatever it had read before.
func TestSubjectLogoutNeverMovesBack(t *testing.T) {
	key := bfftest.NewSigningKey(t)
	shared := newMemShared()
	e := newEnvOP(t, bfftest.OPOptions{Wrap: key.Publish}, withShared(shared))
	cfg := e.cfg
	cfg.Shared = staleReads{shared}
	lagging := discovered(t, cfg)

	now := e.clock.Now()
	for _, post := range []struct {
		auth *oidc.Auth
		iat  time.Time
	}{{e.auth, now}, {lagging, now.Add(-time.Minute)}} {
		if rec := postLogout(post.auth, "logout_token="+key.Sign(t, logoutClaims(e.op, "", "someone", post.iat))); rec.Code != http.StatusOK {
			t.Fatalf("logout token: %d %s", rec.Code, rec.Body)
		}
	}
	ends := shared.withPrefix("bff:end-sub:")
	if len(ends) != 1 {
		t.Fatalf("%d subject records, want 1", len(ends))
	}
	for _, rec := range ends {
		if rec.v != strconv.FormatInt(now.Unix(), 10) {
			t.Errorf("the subject's cut-off is %s, want the later token's iat %d", rec.v, now.Unix())
		}
	}
}
