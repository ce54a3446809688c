package idp_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// withBrowser gives the OP's test client a cookie jar, so that it keeps
// its session at the OP as a browser does.
func withBrowser(t *testing.T, o *testOP) *testOP {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	o.http.Jar = jar
	return o
}

// loginStep is where the OP's login page sends a browser for an
// authorization request: "form" when it shows the form, else the
// redirect's Location.
func (o *testOP) loginStep(t *testing.T, opts ...oauth2.AuthCodeOption) (string, authStart) {
	t.Helper()
	a := o.authorize(opts...)
	resp := o.do(t, http.MethodGet, a.url, nil, nil)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: %s without a Location", resp.Status)
	}
	resp = o.do(t, http.MethodGet, loc.String(), nil, nil)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return "form", a
	}
	return resp.Header.Get("Location"), a
}

// wantRefusal checks that the OP sent the browser back to the client with
// the OAuth error code and the request's state.
func (o *testOP) wantRefusal(t *testing.T, loc string, a authStart, code string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, o.redirectURI+"?") {
		t.Fatalf("went to %q, want the redirect URI with an error", loc)
	}
	if q := u.Query(); q.Get("error") != code || q.Get("state") != a.state || q.Has("code") {
		t.Errorf("redirect query %q, want error=%s with the state and no code", u.RawQuery, code)
	}
}

func TestSingleSignOn(t *testing.T) {
	o := withBrowser(t, newTestOP(t, nil))
	none := oauth2.SetAuthURLParam("prompt", "none")

	// No session at the OP: prompt=none gets login_required, at once.
	loc, a := o.loginStep(t, none)
	o.wantRefusal(t, loc, a, "login_required")

	o.login(t) // the form, which opens a session at the OP

	// Now the OP answers without the form, prompt=none included.
	for _, opts := range [][]oauth2.AuthCodeOption{nil, {none}} {
		loc, _ := o.loginStep(t, opts...)
		if !strings.HasPrefix(loc, o.issuer+"/authorize/callback") {
			t.Errorf("with a session at the OP (%d options): went to %q, want op's callback", len(opts), loc)
		}
	}
	tok, a := o.login(t)
	if tok.AccessToken == "" {
		t.Fatal("a sign-in from the OP's session gave no token")
	}

	// prompt=login and a max_age the sign-in exceeds show the form again.
	for _, opt := range []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0")} {
		if loc, _ := o.loginStep(t, opt); loc != "form" {
			t.Errorf("went to %q, want the form", loc)
		}
	}

	// end_session ends the session at the OP too.
	idToken, _ := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {o.postLogout}}
	o.do(t, http.MethodGet, o.disc.EndSessionEndpoint+"?"+q.Encode(), nil, nil).Body.Close()
	loc, a = o.loginStep(t, none)
	o.wantRefusal(t, loc, a, "login_required")
	if loc, _ := o.loginStep(t); loc != "form" {
		t.Errorf("after end_session: went to %q, want the form", loc)
	}
}

func TestLoginCancel(t *testing.T) {
	o := newTestOP(t, nil)
	a := o.authorize()
	resp := o.do(t, http.MethodGet, a.url, nil, nil)
	resp.Body.Close()
	loc, _ := resp.Location()
	page := o.do(t, http.MethodGet, loc.String(), nil, nil)
	page.Body.Close()
	id := loc.Query().Get("authRequestID")
	form := url.Values{"authRequestID": {id}, "cancel": {"1"}}
	resp = o.do(t, http.MethodPost, o.issuer+"/login", form, nil)
	resp.Body.Close()
	o.wantRefusal(t, resp.Header.Get("Location"), a, "access_denied")
	// The request is spent: the form cannot complete it afterwards.
	if resp, _ := o.postLogin(t, id, "demo", "demo"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("signing in after cancelling: %s, want 400", resp.Status)
	}
}
