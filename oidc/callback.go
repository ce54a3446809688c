package oidc

import (
	"bff/internal/policy"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

func (a *Auth) callback(w http.ResponseWriter, r *http.Request) {
	a.obs.Login(a.completeLogin(w, r))
}

// completeLogin handles the callback and reports how it ended:
// "completed", "failed" (answered for a person, see loginFailed) or
// "no_idp_session" (a silent sign-in that found none).
func (a *Auth) completeLogin(w http.ResponseWriter, r *http.Request) string {
	q := r.URL.Query()
	st, ok := a.checkState(w, r, q.Get("state"))
	if !ok {
		a.loginFailed(w, r, http.StatusBadRequest, errInvalidState, "")
		return "failed"
	}
	if code := q.Get("error"); code != "" {
		code = safeErrorCode(code)
		if st.Silent && silentMiss(code) {
			// prompt=none found no session at the IdP: that is an answer,
			// not a failure. The SPA learns it from /auth/session.
			a.log.Debug("login: silent sign-in found no identity provider session", "error", code)
			http.Redirect(w, r, st.ReturnTo, http.StatusFound)
			return "no_idp_session"
		}
		a.log.Info("login: identity provider returned an error", "error", code, "description", truncate(q.Get("error_description"), 200))
		a.loginFailed(w, r, http.StatusBadRequest, code, st.ReturnTo)
		return "failed"
	}
	code := q.Get("code")
	if code == "" {
		a.loginFailed(w, r, http.StatusBadRequest, errIdP, st.ReturnTo)
		return "failed"
	}
	p := a.provider.Load()
	if p == nil {
		w.Header().Set("Retry-After", "5")
		a.loginFailed(w, r, http.StatusServiceUnavailable, errIdPUnavailable, st.ReturnTo)
		return "failed"
	}
	s, status := a.redeem(r, p, code, st)
	if s == nil {
		reason := errIdP
		if status == http.StatusServiceUnavailable {
			reason = errIdPUnavailable
		}
		a.loginFailed(w, r, status, reason, st.ReturnTo)
		return "failed"
	}
	if err := a.writeSession(w, r, s); err != nil {
		if errors.Is(err, ErrUnavailable) {
			a.log.Warn("login: the shared store cannot be reached", "err", err)
			w.Header().Set("Retry-After", "5")
			a.loginFailed(w, r, http.StatusServiceUnavailable, errStoreUnavailable, st.ReturnTo)
			return "failed"
		}
		a.log.Error("login: the session is too large for the cookies allowed; raise BFF_MAX_COOKIE_CHUNKS, or set BFF_REDIS_URL to keep large sessions in Redis", "err", err)
		a.loginFailed(w, r, http.StatusBadGateway, errTooLarge, st.ReturnTo)
		return "failed"
	}
	a.log.Info("login completed", "session", s)
	http.Redirect(w, r, st.ReturnTo, http.StatusFound)
	return "completed"
}

// silentMiss reports whether an IdP's error answers a prompt=none login
// with "the user would have to interact" (OpenID Connect Core 3.1.2.6).
func silentMiss(code string) bool {
	switch code {
	case "login_required", "interaction_required", "consent_required", "account_selection_required":
		return true
	}
	return false
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
