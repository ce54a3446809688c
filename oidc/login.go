package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"bff/cookie"
	"bff/internal/policy"
	"bff/internal/problem"
)

// IsReservedAuthParam reports whether an authorization-request parameter is
// one bff sets itself, which extra parameters must not override: they carry
// the protocol's security (state, nonce, PKCE, redirect_uri).
func IsReservedAuthParam(name string) bool {
	switch name {
	case "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
		"code_challenge", "code_challenge_method", "response_mode", "request", "request_uri":
		return true
	}
	return false
}

// loginTTL bounds how long a browser may sit on the IdP's login page.
const loginTTL = 10 * time.Minute

// maxLoginCookies caps parallel login attempts per browser, so repeated
// clicks cannot pile up cookies until the browser drops the session.
const maxLoginCookies = 4

// loginState is what the login-state cookie carries from /auth/login to
// /auth/callback.
type loginState struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	ReturnTo string    `json:"r"`
	Expires  time.Time `json:"e"`
}

// loginCookie names the login-state cookie after its state, one cookie per
// attempt, so two tabs can log in at once.
func loginCookie(state string) cookie.Chunked {
	return cookie.Chunked{Name: loginCookiePrefix + state, SameSite: http.SameSiteLaxMode, MaxChunks: 1}
}

func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	returnTo := r.URL.Query().Get("returnTo")
	if returnTo == "" {
		returnTo = "/"
	}
	if !policy.IsLocalPath(returnTo) {
		problem.Write(w, http.StatusBadRequest, "Bad returnTo", "returnTo must be a local path such as /app.")
		return
	}
	p := a.provider.Load()
	if p == nil {
		a.notReady(w)
		return
	}
	st := loginState{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo,
		Expires:  a.now().Add(loginTTL),
	}
	plain, err := json.Marshal(st)
	if err == nil {
		var sealed string
		if sealed, err = a.cfg.Keys.Seal(purposeLogin, plain); err == nil {
			a.dropExcessLogins(w, r)
			err = loginCookie(st.State).Write(w, r, sealed, loginTTL)
		}
	}
	if err != nil {
		a.log.Error("login: sealing login state", "err", err)
		problem.Write(w, http.StatusInternalServerError, "Login unavailable", "")
		return
	}
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)}
	for name, values := range a.cfg.AuthParams {
		if !IsReservedAuthParam(name) && len(values) > 0 {
			opts = append(opts, oauth2.SetAuthURLParam(name, values[0]))
		}
	}
	target := p.oauth2.AuthCodeURL(st.State, opts...)
	a.obs.Login("started")
	http.Redirect(w, r, target, http.StatusFound)
}

func (a *Auth) dropExcessLogins(w http.ResponseWriter, r *http.Request) {
	var names []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, loginCookiePrefix) {
			names = append(names, c.Name)
		}
	}
	if len(names) < maxLoginCookies {
		return
	}
	// A header can hold thousands of names; answering each would make a
	// response too big for the proxies in front. The rest go next time.
	for _, name := range names[:min(len(names), maxLoginCookies+32)] {
		loginCookie(strings.TrimPrefix(name, loginCookiePrefix)).Expire(w, nil)
	}
}

func (a *Auth) callback(w http.ResponseWriter, r *http.Request) {
	if !a.completeLogin(w, r) {
		a.obs.Login("failed")
		return
	}
	a.obs.Login("completed")
}

// completeLogin handles the callback and reports whether a session resulted.
func (a *Auth) completeLogin(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	st, ok := a.checkState(w, r, q.Get("state"))
	if !ok {
		problem.Write(w, http.StatusBadRequest, "Login failed", "The login attempt is unknown or has expired; start again.")
		return false
	}
	if code := q.Get("error"); code != "" {
		a.log.Info("login: identity provider returned an error", "error", code, "description", truncate(q.Get("error_description"), 200))
		problem.Write(w, http.StatusBadRequest, "Login failed", "The identity provider refused the login ("+safeErrorCode(code)+").")
		return false
	}
	code := q.Get("code")
	if code == "" {
		problem.Write(w, http.StatusBadRequest, "Login failed", "The callback carries no authorization code.")
		return false
	}
	p := a.provider.Load()
	if p == nil {
		a.notReady(w)
		return false
	}
	s, status := a.redeem(r, p, code, st)
	if s == nil {
		problem.Write(w, status, "Login failed", "The identity provider could not complete the login; start again.")
		return false
	}
	if err := a.writeSession(w, r, s); err != nil {
		problem.Write(w, http.StatusBadGateway, "Login failed", "The identity provider issued tokens too large to keep.")
		return false
	}
	a.log.Info("login completed", "session", s)
	http.Redirect(w, r, st.ReturnTo, http.StatusFound)
	return true
}

// checkState opens the login cookie named after state and expires it: a
// state is good for one callback only. Nothing else of the callback is
// trusted before this passes.
func (a *Auth) checkState(w http.ResponseWriter, r *http.Request, state string) (loginState, bool) {
	var st loginState
	if len(state) != len(randomString()) || strings.Trim(state, base64URLAlphabet) != "" {
		return st, false
	}
	c := loginCookie(state)
	sealed, err := c.Read(r)
	if err != nil {
		return st, false
	}
	c.Expire(w, r)
	plain, _, err := a.cfg.Keys.Open(purposeLogin, sealed)
	if err != nil || json.Unmarshal(plain, &st) != nil {
		return st, false
	}
	if subtle.ConstantTimeCompare([]byte(st.State), []byte(state)) != 1 || !a.now().Before(st.Expires) || !policy.IsLocalPath(st.ReturnTo) {
		return st, false
	}
	return st, true
}

// redeem exchanges the code and verifies the ID token. On failure it returns
// the status for the browser: 400 when the IdP refused, 502 when it answered
// nonsense, 503 when it could not be reached.
func (a *Auth) redeem(r *http.Request, p *provider, code string, st loginState) (*Session, int) {
	ctx, cancel := context.WithTimeout(a.clientContext(r.Context()), a.cfg.IdPTimeout)
	defer cancel()
	tok, err := p.oauth2.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		a.log.Warn("login: code exchange failed", "err", redactRetrieveError(err))
		return nil, exchangeFailureStatus(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		a.log.Warn("login: token response has no id_token")
		return nil, http.StatusBadGateway
	}
	idt, err := p.verifier.Verify(ctx, rawID)
	if err != nil {
		a.log.Warn("login: id token rejected", "err", err)
		return nil, http.StatusBadGateway
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		a.log.Warn("login: id token nonce mismatch")
		return nil, http.StatusBadRequest
	}
	now := a.now()
	s := &Session{
		ID:           randomString(),
		Subject:      idt.Subject,
		AccessToken:  tok.AccessToken,
		AccessExpiry: accessExpiry(tok, now),
		RefreshToken: tok.RefreshToken,
		IDToken:      rawID,
		Created:      now,
		LastSeen:     now,
	}
	if p.userinfo != nil {
		s.Extra = a.userinfoExtra(ctx, p, tok, s)
	}
	return s, 0
}

// userinfoExtra reads userinfo and keeps only what the ID token lacks. A
// failure costs the SPA some claims, not the login.
func (a *Auth) userinfoExtra(ctx context.Context, p *provider, tok *oauth2.Token, s *Session) json.RawMessage {
	info, err := p.userinfo.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		// go-oidc quotes the response body after the status; an IdP's error
		// body is nothing the log needs, and could echo what it was sent.
		status, _, _ := strings.Cut(err.Error(), ": ")
		a.log.Warn("login: userinfo failed; continuing with id token claims", "err", truncate(status, 80))
		return nil
	}
	if info.Subject != s.Subject {
		a.log.Warn("login: userinfo subject differs from id token; ignoring userinfo")
		return nil
	}
	var claims map[string]any
	if err := info.Claims(&claims); err != nil {
		return nil
	}
	have := s.claims()
	for k := range claims {
		if _, dup := have[k]; dup || isProtocolClaim(k) || k == "sub" {
			delete(claims, k)
		}
	}
	if len(claims) == 0 {
		return nil
	}
	extra, err := json.Marshal(claims)
	if err != nil {
		return nil
	}
	return extra
}

// accessExpiry is the token's expiry as the IdP stated it. An IdP that
// states none gets a short assumed lifetime, so bff refreshes early rather
// than forwarding a dead token.
func accessExpiry(tok *oauth2.Token, now time.Time) time.Time {
	// expires_in is relative: count it from this process's clock, which
	// also judges expiry, rather than from the wall clock x/oauth2 used.
	if tok.ExpiresIn > 0 {
		return now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if !tok.Expiry.IsZero() {
		return tok.Expiry
	}
	return now.Add(5 * time.Minute)
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// randomString is 128 bits from crypto/rand, base64url encoded.
func randomString() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// safeErrorCode passes an OAuth error code to the browser only when it looks
// like one (RFC 6749 limits the charset); anything else might be injected.
func safeErrorCode(code string) string {
	if len(code) > 64 || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "error"
	}
	return code
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (a *Auth) notReady(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	problem.Write(w, http.StatusServiceUnavailable, "Not ready", "The identity provider has not been reached yet; try again shortly.")
}
