package idp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"bff/demo/idp"
	"bff/demo/idp/idptest"
)

func TestDiscovery(t *testing.T) {
	o := newTestOP(t, nil)
	d := o.disc
	if d.Issuer != o.issuer {
		t.Errorf("issuer %q, want %q", d.Issuer, o.issuer)
	}
	for name, u := range map[string]string{
		"authorization_endpoint": d.AuthorizationEndpoint,
		"token_endpoint":         d.TokenEndpoint,
		"userinfo_endpoint":      d.UserinfoEndpoint,
		"revocation_endpoint":    d.RevocationEndpoint,
		"end_session_endpoint":   d.EndSessionEndpoint,
		"jwks_uri":               d.JWKSURI,
	} {
		if !strings.HasPrefix(u, o.issuer+"/") {
			t.Errorf("%s = %q, want a URL under the issuer %s", name, u, o.issuer)
		}
	}
	if !contains(d.CodeChallengeMethods, "S256") || contains(d.CodeChallengeMethods, "plain") {
		t.Errorf("code_challenge_methods_supported = %v, want S256 only", d.CodeChallengeMethods)
	}
	for _, s := range []string{"openid", "profile", "email", "offline_access"} {
		if !contains(d.ScopesSupported, s) {
			t.Errorf("scopes_supported = %v, missing %s", d.ScopesSupported, s)
		}
	}
	if !contains(d.GrantTypesSupported, "refresh_token") {
		t.Errorf("grant_types_supported = %v, missing refresh_token", d.GrantTypesSupported)
	}
}

func TestCodeFlow(t *testing.T) {
	const atTTL, idTTL = 90 * time.Second, 20 * time.Minute
	o := newTestOP(t, func(c *idp.Config) {
		c.AccessTokenLifetime = atTTL
		c.IDTokenLifetime = idTTL
	})
	start := time.Now()
	tok, a := o.login(t)

	if tok.RefreshToken == "" {
		t.Fatal("no refresh token although offline_access was requested")
	}
	if !near(time.Until(tok.Expiry), atTTL-time.Since(start), 3*time.Second) {
		t.Errorf("expires_in gives expiry %v from now, want about %v", time.Until(tok.Expiry), atTTL)
	}

	user := idp.DemoUser()
	at := o.verifyJWT(t, tok.AccessToken)
	if !contains(audience(at), testClientID) {
		t.Errorf("access token aud = %v, want it to include %q", at["aud"], testClientID)
	}
	if d := lifetime(t, at); !near(d, atTTL, time.Second) {
		t.Errorf("access token lifetime %v, want %v", d, atTTL)
	}
	wantClaims(t, "access token", at, map[string]any{
		"iss": o.issuer, "sub": user.Subject, "client_id": testClientID,
		"scope": "openid profile email offline_access",
	})

	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("no id_token in the token response")
	}
	id := o.verifyJWT(t, raw)
	if got := audience(id); len(got) != 1 || got[0] != testClientID {
		t.Errorf("id token aud = %v, want [%s]", got, testClientID)
	}
	if d := lifetime(t, id); !near(d, idTTL, time.Second) {
		t.Errorf("id token lifetime %v, want %v", d, idTTL)
	}
	wantClaims(t, "id token", id, map[string]any{
		"iss": o.issuer, "sub": user.Subject, "nonce": a.nonce,
		"name": user.Name, "given_name": user.GivenName, "family_name": user.FamilyName,
		"preferred_username": user.Username, "email": user.Email, "email_verified": true,
	})

	// userinfo with the access token.
	resp := o.do(t, http.MethodGet, o.disc.UserinfoEndpoint, nil, http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: %s", resp.Status)
	}
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	wantClaims(t, "userinfo", info, map[string]any{
		"sub": user.Subject, "name": user.Name, "given_name": user.GivenName, "family_name": user.FamilyName,
		"preferred_username": user.Username, "email": user.Email, "email_verified": true,
	})

	// A refresh rotates the refresh token and issues a new access token.
	next, err := o.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Error("refresh did not rotate the refresh token")
	}
	if next.AccessToken == tok.AccessToken {
		t.Error("refresh returned the same access token")
	}
	nextIDToken, _ := next.Extra("id_token").(string)

	if got, want := o.rec.Counts(), (idptest.Counts{AuthCodeGrants: 1, RefreshGrants: 1, UserinfoCalls: 1}); got != want {
		t.Errorf("Counts() = %+v, want %+v", got, want)
	}
	issued := o.rec.IssuedTokens()
	for _, want := range []string{tok.AccessToken, tok.RefreshToken, raw, next.AccessToken, next.RefreshToken, nextIDToken} {
		if want == "" || !contains(issued, want) {
			t.Errorf("IssuedTokens() misses a token that was issued (%d listed)", len(issued))
		}
	}
	if len(issued) != 6 {
		t.Errorf("IssuedTokens() has %d tokens, want 6", len(issued))
	}
}

func TestClientSecretPost(t *testing.T) {
	o := newTestOP(t, nil)
	o.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	tok, _ := o.login(t)
	if _, err := o.refresh(tok.RefreshToken); err != nil {
		t.Fatalf("refresh with client_secret_post: %v", err)
	}

	o.conf.ClientSecret = "wrong"
	a := o.authorize()
	_, err := o.conf.Exchange(o.ctx, o.code(t, a), oauth2.VerifierOption(a.verifier))
	var re *oauth2.RetrieveError
	if !asRetrieveError(err, &re) || re.Response.StatusCode != http.StatusUnauthorized {
		t.Fatalf("exchange with a wrong secret: %v, want HTTP 401", err)
	}
}

func TestNoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	o := newTestOP(t, nil)
	o.conf.Scopes = []string{"openid", "profile"}
	tok, _ := o.login(t)
	if tok.AccessToken == "" {
		t.Fatal("no access token")
	}
	if tok.RefreshToken != "" {
		t.Error("a refresh token was issued without offline_access")
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	o := newTestOP(t, nil)
	a := o.authorize()
	code := o.code(t, a)
	tok, err := o.conf.Exchange(o.ctx, code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err = o.conf.Exchange(o.ctx, code, oauth2.VerifierOption(a.verifier))
	wantInvalidGrant(t, err)

	// The replay revoked what the code had bought (RFC 6749 section 4.1.2).
	_, err = o.refresh(tok.RefreshToken)
	wantInvalidGrant(t, err)
	if c := o.rec.Counts(); c.AuthCodeGrants != 1 {
		t.Errorf("AuthCodeGrants = %d, want 1", c.AuthCodeGrants)
	}
}

func TestPKCE(t *testing.T) {
	o := newTestOP(t, nil)
	tests := []struct {
		name string
		opts []oauth2.AuthCodeOption
	}{
		{"wrong verifier", []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}},
		{"no verifier", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := o.authorize()
			code := o.code(t, a)
			_, err := o.conf.Exchange(o.ctx, code, tt.opts...)
			var re *oauth2.RetrieveError
			if !asRetrieveError(err, &re) || re.Response.StatusCode != http.StatusBadRequest {
				t.Fatalf("exchange: %v, want HTTP 400", err)
			}
			// A failed attempt spends the code.
			_, err = o.conf.Exchange(o.ctx, code, oauth2.VerifierOption(a.verifier))
			wantInvalidGrant(t, err)
		})
	}

	t.Run("plain method refused", func(t *testing.T) {
		a := o.authorize(
			oauth2.SetAuthURLParam("code_challenge_method", "plain"),
			oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()),
		)
		_, err := idptest.Login(o.ctx, o.http, a.url, "demo", "demo")
		if err == nil || !strings.Contains(err.Error(), "invalid_request") {
			t.Fatalf("Login with a plain challenge: %v, want invalid_request", err)
		}
	})
	if c := o.rec.Counts(); c.AuthCodeGrants != 0 {
		t.Errorf("AuthCodeGrants = %d, want 0", c.AuthCodeGrants)
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Run("strict", func(t *testing.T) {
		o := newTestOP(t, nil)
		tok, _ := o.login(t)
		next, err := o.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		_, err = o.refresh(tok.RefreshToken)
		wantInvalidGrant(t, err)
		if _, err := o.refresh(next.RefreshToken); err != nil {
			t.Fatalf("refresh with the successor: %v", err)
		}
		if got, want := o.rec.Counts(), (idptest.Counts{AuthCodeGrants: 1, RefreshGrants: 2, RefreshRefused: 1}); got != want {
			t.Errorf("Counts() = %+v, want %+v", got, want)
		}
	})

	t.Run("reuse interval", func(t *testing.T) {
		o := newTestOP(t, func(c *idp.Config) { c.RefreshReuseInterval = 5 * time.Second })
		tok, _ := o.login(t)
		first, err := o.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		again, err := o.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh with the rotated-out token within the interval: %v", err)
		}
		if again.AccessToken == "" || again.RefreshToken == "" {
			t.Error("reuse within the interval returned no tokens")
		}
		for _, rt := range []string{first.RefreshToken, again.RefreshToken} {
			if _, err := o.refresh(rt); err != nil {
				t.Fatalf("refresh with a successor: %v", err)
			}
		}
	})

	t.Run("strict race", func(t *testing.T) {
		// Two replicas refreshing the same token at once: only one wins.
		o := newTestOP(t, nil)
		tok, _ := o.login(t)
		errs := o.raceRefresh(tok.RefreshToken)
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("racing refreshes: %v and %v, want exactly one to succeed", errs[0], errs[1])
		}
	})

	t.Run("race within interval", func(t *testing.T) {
		o := newTestOP(t, func(c *idp.Config) { c.RefreshReuseInterval = 5 * time.Second })
		tok, _ := o.login(t)
		errs := o.raceRefresh(tok.RefreshToken)
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("racing refreshes: %v and %v, want both to succeed", errs[0], errs[1])
		}
	})

	t.Run("expired", func(t *testing.T) {
		o := newTestOP(t, func(c *idp.Config) { c.RefreshTokenLifetime = 300 * time.Millisecond })
		tok, _ := o.login(t)
		time.Sleep(400 * time.Millisecond)
		_, err := o.refresh(tok.RefreshToken)
		wantInvalidGrant(t, err)
	})
}

func TestRevokeAll(t *testing.T) {
	o := newTestOP(t, nil)
	tok, _ := o.login(t)
	if err := o.rec.RevokeAll(); err != nil {
		t.Fatal(err)
	}

	_, err := o.refresh(tok.RefreshToken)
	wantInvalidGrant(t, err)

	resp := o.do(t, http.MethodGet, o.disc.UserinfoEndpoint, nil, http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("userinfo accepted a revoked access token")
	}
	if c := o.rec.Counts(); c.RefreshRefused != 1 || c.RefreshGrants != 0 {
		t.Errorf("Counts() = %+v, want one refused refresh and none granted", c)
	}

	// A new login works as before.
	again, _ := o.login(t)
	if _, err := o.refresh(again.RefreshToken); err != nil {
		t.Fatalf("refresh after a new login: %v", err)
	}
}

func TestRevocationEndpoint(t *testing.T) {
	o := newTestOP(t, nil)
	tok, _ := o.login(t)
	other, _ := o.login(t)

	revoke := func(user, pass, token string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(o.ctx, http.MethodPost, o.disc.RevocationEndpoint,
			strings.NewReader(url.Values{"token": {token}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(user, pass)
		resp, err := o.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if got := revoke(testClientID, "wrong", tok.RefreshToken); got != http.StatusUnauthorized {
		t.Errorf("revocation with a wrong secret: HTTP %d, want 401", got)
	}
	if got := revoke(testClientID, testClientSecret, tok.RefreshToken); got != http.StatusOK {
		t.Fatalf("revocation: HTTP %d, want 200", got)
	}
	_, err := o.refresh(tok.RefreshToken)
	wantInvalidGrant(t, err)

	// The access token of the same grant went with it.
	resp := o.do(t, http.MethodGet, o.disc.UserinfoEndpoint, nil, http.Header{"Authorization": {"Bearer " + tok.AccessToken}})
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("userinfo accepted the access token of a revoked grant")
	}
	// Unknown tokens are fine (RFC 7009 section 2.2).
	if got := revoke(testClientID, testClientSecret, "no-such-token"); got != http.StatusOK {
		t.Errorf("revoking an unknown token: HTTP %d, want 200", got)
	}
	// Other grants are untouched.
	if _, err := o.refresh(other.RefreshToken); err != nil {
		t.Errorf("refresh of another login after revocation: %v", err)
	}
	if c := o.rec.Counts(); c.Revocations != 3 {
		t.Errorf("Revocations = %d, want 3", c.Revocations)
	}
}

func TestEndSession(t *testing.T) {
	o := newTestOP(t, nil)
	tok, _ := o.login(t)
	idToken, _ := tok.Extra("id_token").(string)

	endSession := func(postLogout string) *http.Response {
		t.Helper()
		q := url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {postLogout}, "state": {"xyz"}}
		resp := o.do(t, http.MethodGet, o.disc.EndSessionEndpoint+"?"+q.Encode(), nil, nil)
		resp.Body.Close()
		return resp
	}

	resp := endSession("https://evil.example/")
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("unregistered post_logout_redirect_uri: HTTP %d to %q, want 400 and no redirect",
			resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := o.refresh(tok.RefreshToken); err != nil {
		t.Fatalf("a refused end_session ended the session: %v", err)
	}

	tok, _ = o.login(t)
	idToken, _ = tok.Extra("id_token").(string)
	resp = endSession(o.postLogout)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != o.postLogout+"?state=xyz" {
		t.Errorf("end_session: HTTP %d to %q, want 302 to %s?state=xyz",
			resp.StatusCode, resp.Header.Get("Location"), o.postLogout)
	}
	_, err := o.refresh(tok.RefreshToken)
	wantInvalidGrant(t, err)

	// Without a hint there is no client to redirect for: the OP's own page.
	resp = o.do(t, http.MethodGet, o.disc.EndSessionEndpoint, nil, nil)
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != o.issuer+"/logged-out" {
		t.Errorf("end_session without a hint redirects to %q, want %s/logged-out", loc, o.issuer)
	}
	if c := o.rec.Counts(); c.EndSessions != 3 {
		t.Errorf("EndSessions = %d, want 3", c.EndSessions)
	}
}

// raceRefresh redeems refreshToken twice at once, as two replicas would.
func (o *testOP) raceRefresh(refreshToken string) []error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { _, errs[i] = o.refresh(refreshToken) })
	}
	wg.Wait()
	return errs
}
