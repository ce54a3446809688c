package oidc_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
	"bff/oidc"
)

func TestLoginFlow(t *testing.T) {
	e := newEnv(t)
	login := e.startLogin("/app?x=1")

	authz, err := url.Parse(login.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := authz.Query()
	for name, want := range map[string]string{
		"response_type":         "code",
		"code_challenge_method": "S256",
		"client_id":             e.op.ClientID,
		"redirect_uri":          e.public.String() + "/auth/callback",
	} {
		if got := q.Get(name); got != want {
			t.Errorf("authorize %s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"state", "nonce", "code_challenge"} {
		if q.Get(name) == "" {
			t.Errorf("authorize URL lacks %s", name)
		}
	}
	if got := login.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("login Cache-Control = %q", got)
	}

	resp := e.callback(e.authorize(login))
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/app?x=1" {
		t.Fatalf("callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	got := e.get("/auth/session", "X-CSRF", "1")
	if got.StatusCode != http.StatusOK {
		t.Fatalf("session: %d %s", got.StatusCode, body(t, got))
	}
	var s struct {
		Sub       string         `json:"sub"`
		Claims    map[string]any `json:"claims"`
		ExpiresAt string         `json:"expiresAt"`
		LogoutURL string         `json:"logoutUrl"`
	}
	if err := json.NewDecoder(got.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Sub != "demo-user" || s.Claims["email"] != "demo@example.com" || s.Claims["name"] != "Demo User" {
		t.Errorf("session = %+v", s)
	}
	for _, k := range []string{"nonce", "iss", "aud", "exp", "at_hash"} {
		if _, ok := s.Claims[k]; ok {
			t.Errorf("claims expose protocol claim %q", k)
		}
	}
	if !strings.HasPrefix(s.LogoutURL, "/auth/logout?sid=") {
		t.Errorf("logoutUrl = %q", s.LogoutURL)
	}
	if c := e.op.Counts(); c.AuthCodeGrants != 1 {
		t.Errorf("OP counts = %+v", c)
	}
}

// TestCookieAttributes checks every Set-Cookie line of a login against the
// contract: Secure, HttpOnly, Path=/, no Domain, SameSite Lax for the login
// state and Strict for the session.
func TestExtraAuthParams(t *testing.T) {
	e := newEnv(t, func(c *oidc.Config) {
		c.AuthParams = url.Values{"audience": {"https://api.example.com"}, "access_type": {"offline"}, "state": {"forced"}}
	})
	authz, err := url.Parse(e.startLogin("/").Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := authz.Query()
	if q.Get("audience") != "https://api.example.com" || q.Get("access_type") != "offline" {
		t.Errorf("extra parameters missing: %s", authz.RawQuery)
	}
	if q.Get("state") == "forced" || len(q["state"]) != 1 {
		t.Errorf("an extra parameter overrode state: %q", q["state"])
	}
}

func TestCookieAttributes(t *testing.T) {
	e := newEnv(t)
	login := e.startLogin("/")
	cb := e.callback(e.authorize(login))

	check := func(t *testing.T, line, wantSameSite string) {
		t.Helper()
		for _, p := range kit.SetCookieProblems(line, wantSameSite) {
			t.Errorf("%.40s...: %s", line, p)
		}
	}
	loginLines := login.Header.Values("Set-Cookie")
	if len(loginLines) != 1 || !strings.HasPrefix(loginLines[0], "__Host-bff-login-") {
		t.Fatalf("login Set-Cookie = %q", loginLines)
	}
	check(t, loginLines[0], "Lax")

	var sawSession, sawLoginCleared bool
	for _, line := range cb.Header.Values("Set-Cookie") {
		switch {
		case strings.HasPrefix(line, oidc.SessionCookie):
			sawSession = true
			check(t, line, "Strict")
			if !strings.Contains(line, "Max-Age=43200") && !strings.Contains(line, "Max-Age=43199") {
				t.Errorf("session cookie lifetime: %.60s...", line)
			}
		case strings.HasPrefix(line, "__Host-bff-login-"):
			sawLoginCleared = true
			check(t, line, "Lax")
			if !strings.Contains(line, "Max-Age=0") {
				t.Errorf("login cookie not expired: %s", line)
			}
		}
	}
	if !sawSession || !sawLoginCleared {
		t.Errorf("callback Set-Cookie = %q", cb.Header.Values("Set-Cookie"))
	}
}

func TestReturnToMustBeLocal(t *testing.T) {
	bad := []string{
		"//evil.example", "/\\evil.example", "https://evil.example", "http:evil.example",
		"javascript:alert(1)", "evil.example", "/\t/evil.example", "/\n/evil.example",
		"\\\\evil.example", "/%0a", "//", "/\\", " /x", "@evil.example", "/x\r\nSet-Cookie: a=b",
	}
	e := newEnv(t)
	for _, rt := range bad {
		t.Run(rt, func(t *testing.T) {
			resp := e.get("/auth/login?returnTo=" + url.QueryEscape(rt))
			if rt == "/%0a" { // a literal, harmless path: percent-encoding stays encoded
				if resp.StatusCode != http.StatusFound {
					t.Errorf("status %d", resp.StatusCode)
				}
				return
			}
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			if len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Error("a refused login set a cookie")
			}
		})
	}
}

func TestCallbackRefusals(t *testing.T) {
	cases := []struct {
		name string
		// mutate turns the genuine callback URL into the one requested.
		mutate func(e *env, cb *url.URL)
	}{
		{"missing state", func(e *env, cb *url.URL) { q := cb.Query(); q.Del("state"); cb.RawQuery = q.Encode() }},
		{"wrong state", func(e *env, cb *url.URL) {
			q := cb.Query()
			q.Set("state", "AAAAAAAAAAAAAAAAAAAAAA")
			cb.RawQuery = q.Encode()
		}},
		{"garbage state", func(e *env, cb *url.URL) { q := cb.Query(); q.Set("state", "../../x"); cb.RawQuery = q.Encode() }},
		{"idp error", func(e *env, cb *url.URL) {
			q := cb.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			cb.RawQuery = q.Encode()
		}},
		{"no code", func(e *env, cb *url.URL) { q := cb.Query(); q.Del("code"); cb.RawQuery = q.Encode() }},
		{"bad code", func(e *env, cb *url.URL) { q := cb.Query(); q.Set("code", "nope"); cb.RawQuery = q.Encode() }},
		{"login cookie lost", func(e *env, cb *url.URL) {
			c, _ := bfftest.NewClient(e.t)
			e.client = c
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			cb, err := url.Parse(e.authorize(e.startLogin("/")))
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(e, cb)
			resp := e.get(cb.RequestURI())
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", resp.StatusCode, body(t, resp))
			}
			for _, line := range resp.Header.Values("Set-Cookie") {
				if strings.HasPrefix(line, oidc.SessionCookie) {
					t.Errorf("a failed callback set a session: %.40s", line)
				}
			}
			if s := e.get("/auth/session", "X-CSRF", "1"); s.StatusCode != http.StatusUnauthorized {
				t.Errorf("session after failed callback: %d", s.StatusCode)
			}
		})
	}
}

func TestCallbackReplay(t *testing.T) {
	e := newEnv(t)
	cb := e.authorize(e.startLogin("/"))
	if resp := e.callback(cb); resp.StatusCode != http.StatusFound {
		t.Fatalf("first callback: %d", resp.StatusCode)
	}
	// The login cookie is gone, so the same state is unknown now.
	if resp := e.callback(cb); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d, want 400", resp.StatusCode)
	}
}

func TestTwoTabsLogInAtOnce(t *testing.T) {
	e := newEnv(t)
	first := e.startLogin("/one")
	second := e.startLogin("/two")
	cb2 := e.authorize(second)
	cb1 := e.authorize(first)
	if resp := e.callback(cb1); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/one" {
		t.Fatalf("first tab: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := e.callback(cb2); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/two" {
		t.Fatalf("second tab: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestNotReadyBeforeDiscovery(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Issuer = "http://127.0.0.1:1/nowhere"
	a, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.Ready() {
		t.Fatal("ready before discovery")
	}
	rec := httptestRecorder(a, "/auth/login")
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("login before discovery: %d, want 503", rec.Code)
	}
}

// TestLoginAttemptsAreCapped: four open login attempts are kept (four tabs
// may log in at once); starting a fifth expires them, so repeated clicks
// cannot pile up cookies until the browser drops the session.
func TestLoginAttemptsAreCapped(t *testing.T) {
	e := newEnv(t)
	for i := range 4 {
		resp := e.startLogin("/")
		if n := len(resp.Header.Values("Set-Cookie")); n != 1 {
			t.Fatalf("attempt %d set %d cookies, want 1", i+1, n)
		}
	}
	resp := e.startLogin("/")
	expired, set := 0, 0
	for _, c := range resp.Cookies() {
		switch {
		case !strings.HasPrefix(c.Name, "__Host-bff-login-"):
		case c.MaxAge < 0:
			expired++
		default:
			set++
		}
	}
	if expired != 4 || set != 1 {
		t.Errorf("fifth attempt expired %d and set %d login cookies, want 4 and 1", expired, set)
	}
}
