package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// refreshMargin: an access token this close to expiry is refreshed before
// it is forwarded, so it cannot die on its way to the upstream.
const refreshMargin = 30 * time.Second

// AccessToken returns a valid access token for the request's session,
// refreshing it first when it is within 30 s of expiry. A refreshed or
// resealed session cookie is set on w, so call it before writing the
// response. Errors are [ErrNoSession] or [ErrUnavailable]; see [WriteError].
func (a *Auth) AccessToken(w http.ResponseWriter, r *http.Request) (string, error) {
	s, err := a.fresh(w, r)
	if err != nil {
		return "", err
	}
	return s.AccessToken, nil
}

func (a *Auth) fresh(w http.ResponseWriter, r *http.Request) (*Session, error) {
	s, current, err := a.loadOrReject(w, r)
	if errors.Is(err, ErrUnavailable) {
		return nil, err
	}
	if err != nil {
		return nil, ErrNoSession
	}
	now := a.now()
	stillValid := now.Before(s.AccessExpiry)
	if now.Before(s.AccessExpiry.Add(-refreshMargin)) {
		a.touch(w, r, s, current)
		return s, nil
	}
	if s.RefreshToken == "" {
		if stillValid {
			a.touch(w, r, s, current)
			return s, nil
		}
		a.session.Expire(w, r)
		return nil, ErrNoSession
	}
	res, err := a.refreshTraced(r.Context(), s)
	switch {
	case err == nil:
		a.obs.Refresh("refreshed")
		s.AccessToken, s.AccessExpiry, s.RefreshToken, s.IDToken = res.accessToken, res.expiry, res.refreshToken, res.idToken
		s.endKeys = nil
		s.LastSeen = now
		if err := a.writeSession(w, r, s); err != nil {
			a.log.Error("refresh: resealing session failed", "err", err)
		}
		return s, nil
	case stillValid:
		a.obs.Refresh("kept")
		a.log.Warn("refresh failed; using the current access token until it expires", "err", err, "session", s)
		a.touch(w, r, s, current)
		return s, nil
	case errors.Is(err, errRefused):
		a.obs.Refresh("refused")
		a.log.Info("refresh refused; session ended", "err", err, "session", s)
		a.session.Expire(w, r)
		return nil, ErrNoSession
	default:
		a.obs.Refresh("unavailable")
		a.log.Warn("refresh failed; identity provider unavailable", "err", err, "session", s)
		return nil, unavailable(err)
	}
}

// errRefused marks a refresh the IdP refused: its token endpoint answered
// 400 or 401, so the refresh token is dead (revoked, expired, rotated out)
// and retrying cannot help. Any other answer, or none, is an outage.
var errRefused = errors.New("refresh refused")

type refreshResult struct {
	accessToken  string
	expiry       time.Time
	refreshToken string
	idToken      string
}

func (a *Auth) refreshTokens(ctx context.Context, s *Session) (refreshResult, error) {
	p := a.provider.Load()
	if p == nil {
		return refreshResult{}, errors.New("identity provider not discovered yet")
	}
	return a.refresh.do(ctx, s.RefreshToken, func(ctx context.Context) (refreshResult, error) {
		if a.shared != nil {
			return a.refreshOnce(ctx, p, s)
		}
		return a.redeemRefreshToken(a.clientContext(ctx), p, s)
	})
}

func (a *Auth) redeemRefreshToken(ctx context.Context, p *provider, s *Session) (refreshResult, error) {
	expired := &oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Unix(1, 0)}
	tok, err := p.oauth2.TokenSource(ctx, expired).Token()
	if err != nil {
		if refused(err) {
			return refreshResult{}, fmt.Errorf("%w: %w", errRefused, redactRetrieveError(err))
		}
		return refreshResult{}, &outage{retryAfter: retryAfter(err), err: redactRetrieveError(err)}
	}
	res := refreshResult{
		accessToken:  tok.AccessToken,
		expiry:       accessExpiry(tok, a.now()),
		refreshToken: tok.RefreshToken,
		idToken:      s.IDToken,
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		idt, err := p.verifier.Verify(ctx, raw)
		if err != nil {
			return refreshResult{}, fmt.Errorf("refreshed id token rejected: %w", err)
		}
		if idt.Subject != s.Subject {
			return refreshResult{}, errors.New("refreshed id token names another subject")
		}
		var c struct {
			SID string `json:"sid"`
		}
		// OpenID Connect does not ask a refreshed ID token to repeat sid.
		// Without it the session would no longer answer to a back-channel
		// logout of its IdP session, so it keeps the ID token that names
		// it: one the IdP issued, as good an id_token_hint as the new one.
		if err := idt.Claims(&c); err == nil && (c.SID != "" || sidClaim(s.IDToken) == "") {
			res.idToken = raw
		}
	}
	return res, nil
}
