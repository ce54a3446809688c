package oidc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// refreshMargin: an access token this close to expiry is refreshed before
// it is forwarded, so it cannot die on its way to the upstream.
const refreshMargin = 30 * time.Second

// recentRefreshTTL is how long a refresh result is kept for requests that
// still carry the cookie from before it. Replaying their old refresh token
// would be refused by an IdP that rotates refresh tokens.
const recentRefreshTTL = 30 * time.Second

// maxRecentRefreshes bounds the memory the recent results may take.
const maxRecentRefreshes = 10_000

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
	res, err := a.refreshTokens(r.Context(), s)
	switch {
	case err == nil:
		a.obs.Refresh("refreshed")
		s.AccessToken, s.AccessExpiry, s.RefreshToken, s.IDToken = res.accessToken, res.expiry, res.refreshToken, res.idToken
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
		return nil, ErrUnavailable
	}
}

// errRefused marks a refresh the IdP answered with a 4xx: the refresh token
// is dead (revoked, expired, rotated out) and retrying cannot help.
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
		return a.redeemRefreshToken(a.clientContext(ctx), p, s)
	})
}

func (a *Auth) redeemRefreshToken(ctx context.Context, p *provider, s *Session) (refreshResult, error) {
	expired := &oauth2.Token{RefreshToken: s.RefreshToken, Expiry: time.Unix(1, 0)}
	tok, err := p.oauth2.TokenSource(ctx, expired).Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
			return refreshResult{}, fmt.Errorf("%w: %w", errRefused, redactRetrieveError(err))
		}
		return refreshResult{}, redactRetrieveError(err)
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
		res.idToken = raw
	}
	return res, nil
}

// refresher makes concurrent refreshes of one refresh token into a single
// call to the IdP, remembers the result briefly for requests that arrive
// with the old cookie, and caps the calls in flight.
type refresher struct {
	now     func() time.Time
	timeout time.Duration
	slots   chan struct{}
	mu      sync.Mutex
	calls   map[[32]byte]*refreshCall
	recent  map[[32]byte]recentRefresh
}

type refreshCall struct {
	done chan struct{}
	res  refreshResult
	err  error
}

type recentRefresh struct {
	res   refreshResult
	until time.Time
}

func newRefresher(maxInFlight int, now func() time.Time, timeout time.Duration) *refresher {
	return &refresher{
		now:     now,
		timeout: timeout,
		slots:   make(chan struct{}, maxInFlight),
		calls:   map[[32]byte]*refreshCall{},
		recent:  map[[32]byte]recentRefresh{},
	}
}

// do runs fn once per refresh token at a time. The key is a hash, so the
// maps never hold a refresh token that a heap dump could read as a key.
func (f *refresher) do(ctx context.Context, refreshToken string, fn func(context.Context) (refreshResult, error)) (refreshResult, error) {
	key := sha256.Sum256([]byte(refreshToken))
	f.mu.Lock()
	if r, ok := f.recent[key]; ok && f.now().Before(r.until) {
		f.mu.Unlock()
		return r.res, nil
	}
	c, inFlight := f.calls[key]
	if !inFlight {
		c = &refreshCall{done: make(chan struct{})}
		f.calls[key] = c
	}
	f.mu.Unlock()

	if inFlight {
		select {
		case <-c.done:
			return c.res, c.err
		case <-ctx.Done():
			return refreshResult{}, ctx.Err()
		}
	}

	// The call outlives the request that started it: the requests waiting
	// on it must not fail because the first browser went away.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.timeout)
	defer cancel()
	c.res, c.err = f.run(callCtx, fn)

	f.mu.Lock()
	delete(f.calls, key)
	if c.err == nil {
		f.remember(key, c.res)
	}
	f.mu.Unlock()
	close(c.done)
	return c.res, c.err
}

func (f *refresher) run(ctx context.Context, fn func(context.Context) (refreshResult, error)) (refreshResult, error) {
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	case <-ctx.Done():
		return refreshResult{}, fmt.Errorf("waiting for a refresh slot: %w", ctx.Err())
	}
	return fn(ctx)
}

// remember must be called with f.mu held.
func (f *refresher) remember(key [32]byte, res refreshResult) {
	now := f.now()
	if len(f.recent) >= maxRecentRefreshes {
		for k, r := range f.recent {
			if !now.Before(r.until) {
				delete(f.recent, k)
			}
		}
		for k := range f.recent {
			if len(f.recent) < maxRecentRefreshes {
				break
			}
			delete(f.recent, k)
		}
	}
	f.recent[key] = recentRefresh{res: res, until: now.Add(recentRefreshTTL)}
}
