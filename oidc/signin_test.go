package oidc_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"bff/internal/bfftest"
	"bff/oidc"
)

// TestLoginPassThrough: prompt, login_hint, ui_locales, acr_values and
// max_age reach the IdP's authorize request when they are well formed,
// winning over the operator's BFF_AUTH_PARAMS; anything else is 400 with
// no login started.
func TestLoginPassThrough(t *testing.T) {
	e := newEnv(t, func(c *oidc.Config) { c.AuthParams = url.Values{"prompt": {"consent"}, "audience": {"api"}} })
	good := url.Values{
		"prompt": {"login consent"}, "login_hint": {"Ünïcode user@example.com"}, "ui_locales": {"de-CH en"},
		"acr_values": {"urn:mace:incommon:iap:silver phr"}, "max_age": {"300"},
	}
	resp := e.get("/auth/login?returnTo=/&" + good.Encode())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", resp.StatusCode, body(t, resp))
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	q := loc.Query()
	for name, want := range good {
		if got := q[name]; len(got) != 1 || got[0] != want[0] {
			t.Errorf("authorize %s = %q, want %q", name, got, want)
		}
	}
	if q.Get("audience") != "api" {
		t.Errorf("the operator's audience was lost: %q", q.Get("audience"))
	}

	for _, bad := range []string{
		"prompt=sometimes", "prompt=none%20login", "prompt=login%20login", "prompt=", "prompt=login&prompt=consent",
		"login_hint=", "login_hint=a%0Ab", "login_hint=" + strings.Repeat("x", 257), "login_hint=%FF",
		"ui_locales=english%3F", "ui_locales=de_CH", "ui_locales=", "ui_locales=123",
		"acr_values=a%20%20b", "acr_values=%22x%22", "acr_values=a%0Ab",
		"max_age=-1", "max_age=1e3", "max_age=01", "max_age=99999999999",
	} {
		resp := e.get("/auth/login?returnTo=/&" + bad)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %q, want 400 problem+json", bad, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if n := len(resp.Header.Values("Set-Cookie")); n != 0 {
			t.Errorf("%s: a refused login set %d cookies", bad, n)
		}
	}
}

// TestSilentSignIn: a prompt=none login that finds no session at the IdP
// returns quietly to returnTo with no session; one that finds a session
// signs the browser in without the form.
func TestSilentSignIn(t *testing.T) {
	e := newEnv(t)
	// The OP refuses at once: authorize, its login page, back to bff.
	loc := e.get("/auth/login?prompt=none&returnTo=" + url.QueryEscape("/orders?page=2")).Header.Get("Location")
	for range 2 {
		resp, err := e.client.Get(loc)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc = resp.Header.Get("Location")
	}
	if !strings.Contains(loc, "error=login_required") {
		t.Fatalf("the OP answered prompt=none with %q", loc)
	}
	miss := e.callback(loc)
	if miss.StatusCode != http.StatusFound || miss.Header.Get("Location") != "/orders?page=2" {
		t.Fatalf("silent sign-in without an IdP session: %d to %q, want 302 to /orders?page=2", miss.StatusCode, miss.Header.Get("Location"))
	}
	if r := e.get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session after a silent miss: %d", r.StatusCode)
	}
	if !strings.Contains(e.logs.String(), "silent sign-in found no identity provider session") {
		t.Error("the silent miss was not logged")
	}

	e.login() // with the form: the browser now has a session at the OP
	e.client.Jar.SetCookies(e.public, []*http.Cookie{{Name: oidc.SessionCookie, Value: "", MaxAge: -1}})
	if r := e.get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("session after dropping bff's cookie: %d", r.StatusCode)
	}
	hit := e.callback(e.authorize(e.get("/auth/login?prompt=none&returnTo=/home")))
	if hit.StatusCode != http.StatusFound || hit.Header.Get("Location") != "/home" {
		t.Fatalf("silent sign-in with an IdP session: %d to %q", hit.StatusCode, hit.Header.Get("Location"))
	}
	if r := e.get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusOK {
		t.Errorf("session after a silent sign-in: %d", r.StatusCode)
	}

	// Not silent: the same IdP answer is a failure a person reads.
	cb, _ := url.Parse(e.authorize(e.startLogin("/x")))
	q := cb.Query()
	q.Del("code")
	q.Set("error", "login_required")
	cb.RawQuery = q.Encode()
	resp := e.get(cb.RequestURI())
	code, err := bfftest.CheckErrorPage(resp.Header, body(t, resp))
	if resp.StatusCode != http.StatusBadRequest || err != nil || code != "login_required" {
		t.Errorf("login_required after a normal login: %d, page %v, code %q", resp.StatusCode, err, code)
	}
}

// TestCallbackErrors: every failed callback is a page for a person (deny-all
// CSP, no script, a link to try again, the error code), or, with
// BFF_ERROR_URL, a redirect there with the code.
func TestCallbackErrors(t *testing.T) {
	for _, errorURL := range []string{"", "/signin-problem?lang=en", "https://help.example.com/signin"} {
		e := newEnv(t, func(c *oidc.Config) { c.ErrorURL = errorURL })
		cancelled := func() string {
			cb, _ := url.Parse(e.authorize(e.startLogin("/after")))
			q := cb.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			cb.RawQuery = q.Encode()
			return cb.RequestURI()
		}
		for _, tc := range []struct {
			target string
			status int
			code   string
		}{
			{"/auth/callback?state=unknown&code=x", http.StatusBadRequest, "invalid_state"},
			{cancelled(), http.StatusBadRequest, "access_denied"},
		} {
			resp := e.get(tc.target)
			text := body(t, resp)
			if errorURL == "" {
				code, err := bfftest.CheckErrorPage(resp.Header, text)
				if resp.StatusCode != tc.status || err != nil || code != tc.code {
					t.Errorf("%s: %d, page %v, code %q; want %d with %s", tc.target, resp.StatusCode, err, code, tc.status, tc.code)
				}
				if tc.code == "access_denied" && !strings.Contains(text, "returnTo=%2Fafter") {
					t.Errorf("the try-again link does not return to /after")
				}
				continue
			}
			loc, err := url.Parse(resp.Header.Get("Location"))
			base, _ := url.Parse(errorURL)
			if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("error") != tc.code || loc.Host != base.Host || loc.Path != base.Path {
				t.Errorf("%s with BFF_ERROR_URL %s: %d to %q, want 302 with error=%s", tc.target, errorURL, resp.StatusCode, resp.Header.Get("Location"), tc.code)
			}
			if base.Query().Get("lang") != "" && loc.Query().Get("lang") != "en" {
				t.Errorf("BFF_ERROR_URL's own query was lost: %q", loc.RawQuery)
			}
		}
	}
}
