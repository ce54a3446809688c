package idp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"bff/demo/idp"
)

// logoutReceiver is a client's back-channel logout endpoint: it keeps what
// it was posted and answers with status.
type logoutReceiver struct {
	mu     sync.Mutex
	status int
	tokens []string
	types  []string
}

func (l *logoutReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tokens = append(l.tokens, r.PostFormValue("logout_token"))
	l.types = append(l.types, r.Header.Get("Content-Type"))
	w.WriteHeader(l.status)
}

func (l *logoutReceiver) received() ([]string, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.tokens...), append([]string(nil), l.types...)
}

func TestSignOutAtTheOP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		status  int    // what the client's endpoint answers
		page    string // what the user reads afterwards
		unknown bool   // no back-channel logout URI registered
	}{
		{name: "delivered", status: http.StatusOK, page: "the application was told"},
		{name: "client refused", status: http.StatusBadRequest, page: "could not be told"},
		{name: "no uri", unknown: true, page: "could not be told"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &logoutReceiver{status: tc.status}
			srv := httptest.NewServer(rcv)
			t.Cleanup(srv.Close)
			o := withBrowser(t, newTestOP(t, func(c *idp.Config) {
				if !tc.unknown {
					c.BackchannelLogoutURI = srv.URL + "/auth/backchannel-logout"
				}
			}))
			if !o.disc.BackchannelLogout || !o.disc.BackchannelLogoutSession {
				t.Error("discovery does not list back-channel logout with sessions")
			}
			tok, _ := o.login(t)
			idClaims := o.verifyJWT(t, tok.Extra("id_token").(string))
			sid, _ := idClaims["sid"].(string)
			if sid == "" {
				t.Fatal("the ID token has no sid")
			}

			if page := o.page(t, http.MethodGet, "/account"); !strings.Contains(page, "Signed in as") {
				t.Fatalf("account page before sign-out:\n%s", page)
			}
			if page := o.page(t, http.MethodPost, "/signout"); !strings.Contains(page, tc.page) {
				t.Errorf("after sign-out the page says:\n%s\nwant %q", page, tc.page)
			}
			if page := o.page(t, http.MethodGet, "/account"); !strings.Contains(page, "not signed in") {
				t.Errorf("account page after sign-out:\n%s", page)
			}
			// The grant is revoked whether or not the client was told, and
			// the next sign-in needs the form again.
			_, err := o.refresh(tok.RefreshToken)
			wantInvalidGrant(t, err)
			if loc, _ := o.loginStep(t); loc != "form" {
				t.Errorf("after sign-out at the OP: went to %q, want the form", loc)
			}

			tokens, types := rcv.received()
			if tc.unknown {
				if len(tokens) != 0 {
					t.Errorf("%d logout tokens sent with no URI registered", len(tokens))
				}
				return
			}
			if len(tokens) != 1 || types[0] != "application/x-www-form-urlencoded" {
				t.Fatalf("the client got %d logout tokens (%q), want 1, form-encoded", len(tokens), types)
			}
			jws, err := jose.ParseSignedCompact(tokens[0], []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			if typ := jws.Signatures[0].Header.ExtraHeaders["typ"]; typ != "logout+jwt" {
				t.Errorf("typ %v, want logout+jwt", typ)
			}
			claims := o.verifyJWT(t, tokens[0])
			wantClaims(t, "logout token", claims, map[string]any{
				"iss": o.issuer, "sub": "demo-user", "sid": sid,
				"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
			})
			if aud := audience(claims); len(aud) != 1 || aud[0] != testClientID {
				t.Errorf("aud %v, want [%s]", aud, testClientID)
			}
			for _, c := range []string{"iat", "exp", "jti"} {
				if claims[c] == nil {
					t.Errorf("logout token has no %s", c)
				}
			}
			if claims["nonce"] != nil {
				t.Error("a logout token must not carry a nonce")
			}
		})
	}
}

func TestSignOutWithoutSession(t *testing.T) {
	rcv := &logoutReceiver{status: http.StatusOK}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	o := withBrowser(t, newTestOP(t, func(c *idp.Config) { c.BackchannelLogoutURI = srv.URL }))
	if page := o.page(t, http.MethodPost, "/signout"); !strings.Contains(page, "not signed in") {
		t.Errorf("sign-out with no session:\n%s", page)
	}
	if tokens, _ := rcv.received(); len(tokens) != 0 {
		t.Errorf("%d logout tokens sent for no session", len(tokens))
	}
}

// page fetches one of the OP's own pages and returns its text, failing
// unless it is a 200 HTML page that runs no script.
func (o *testOP) page(t *testing.T, method, path string) string {
	t.Helper()
	resp := o.do(t, method, o.issuer+path, nil, nil)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("%s %s: %s %q", method, path, resp.Status, resp.Header)
	}
	return string(body)
}
