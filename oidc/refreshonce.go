package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// With the shared store, one refresh token is redeemed once across every
// replica, which an IdP that rotates refresh tokens strictly requires: the
// replica that claims the token's record redeems it and leaves the result
// there, sealed under the cookie keys, for the replicas that lost the
// race, which wait for it. The record is named by a hash of the refresh
// token. The claim and the result are one record, so that a replica whose
// cached read of it is a moment behind cannot claim it again once the
// result is there: the claim is decided by the store, never by a cache.

// purposeRefreshResult seals a refresh result in the shared store.
const purposeRefreshResult = "refresh-result"

// refreshPoll is how often a replica that lost the race looks for the
// result; each look is answered from the store's cache until the result
// arrives.
const refreshPoll = 20 * time.Millisecond

// refreshPending is the record while its claimant is at the IdP. A sealed
// result, a JWE, can never be equal to it.
const refreshPending = "pending"

// sharedResult is a refresh result as stored: tokens, or the IdP's
// refusal, which the losers must hear of too.
type sharedResult struct {
	Access  string    `json:"a,omitempty"`
	Expiry  time.Time `json:"e"`
	Refresh string    `json:"r,omitempty"`
	IDToken string    `json:"i,omitempty"`
	Refused bool      `json:"x,omitempty"`
}

func (a *Auth) refreshOnce(ctx context.Context, p *provider, s *Session) (refreshResult, error) {
	record := sharedKey("refresh", s.RefreshToken)
	for {
		v, err := a.shared.GetCached(ctx, record)
		if err != nil {
			return refreshResult{}, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
		}
		if v[0] != "" && v[0] != refreshPending {
			return a.openResult(v[0])
		}
		won, err := a.shared.SetNX(ctx, record, refreshPending, a.cfg.IdPTimeout+5*time.Second)
		if err != nil {
			return refreshResult{}, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
		}
		if won {
			return a.redeemAndShare(ctx, p, s, record)
		}
		select {
		case <-ctx.Done():
			return refreshResult{}, fmt.Errorf("%w: waiting for another replica's refresh: %w", ErrUnavailable, ctx.Err())
		case <-time.After(refreshPoll):
		}
	}
}

// redeemAndShare redeems the refresh token and leaves the outcome in
// record for the other replicas: the tokens, or the refusal. After an
// outage, or when the outcome cannot be stored, it deletes the claim, so
// that another replica may try.
func (a *Auth) redeemAndShare(ctx context.Context, p *provider, s *Session, record string) (refreshResult, error) {
	res, err := a.redeemRefreshToken(a.clientContext(ctx), p, s)
	var shared *sharedResult
	switch {
	case err == nil:
		shared = &sharedResult{Access: res.accessToken, Expiry: res.expiry, Refresh: res.refreshToken, IDToken: res.idToken}
	case errors.Is(err, errRefused):
		shared = &sharedResult{Refused: true}
	}
	if shared != nil {
		sealed, serr := a.sealResult(shared)
		if serr == nil {
			// Kept as long as a replica keeps a result for late requests.
			serr = a.shared.Set(context.WithoutCancel(ctx), record, sealed, recentRefreshTTL)
		}
		if serr == nil {
			return res, err
		}
		a.log.Warn("refresh: sharing the result failed; other replicas will retry", "err", serr)
	}
	if derr := a.shared.Delete(context.WithoutCancel(ctx), record); derr != nil {
		a.log.Warn("refresh: releasing the claim failed; it expires by itself", "err", derr)
	}
	return res, err
}

func (a *Auth) sealResult(r *sharedResult) (string, error) {
	plain, err := json.Marshal(r)
	if err != nil {
		return "", err
	}
	return a.cfg.Keys.Seal(purposeRefreshResult, plain)
}

func (a *Auth) openResult(sealed string) (refreshResult, error) {
	plain, _, err := a.cfg.Keys.Open(purposeRefreshResult, sealed)
	if err != nil {
		return refreshResult{}, fmt.Errorf("%w: another replica's refresh result does not open: %w", ErrUnavailable, err)
	}
	var r sharedResult
	if err := json.Unmarshal(plain, &r); err != nil {
		return refreshResult{}, fmt.Errorf("%w: another replica's refresh result does not decode", ErrUnavailable)
	}
	if r.Refused {
		return refreshResult{}, fmt.Errorf("%w: by the identity provider, at another replica", errRefused)
	}
	return refreshResult{accessToken: r.Access, expiry: r.Expiry, refreshToken: r.Refresh, idToken: r.IDToken}, nil
}
