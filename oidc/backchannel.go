package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"bff/internal/problem"
)

// OpenID Connect Back-Channel Logout 1.0: the IdP POSTs a logout token,
// a JWT it signed, when a user's session there ends, and every session of
// bff that came from it must end too, on every replica. Only the shared
// store makes that possible, so the endpoint exists only with one.

const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// maxLogoutTokenAge bounds how old a logout token's iat may be, and so how
// long its jti must be remembered to refuse a replay.
const maxLogoutTokenAge = 5 * time.Minute

// logoutClaims are the claims of a logout token bff acts on.
type logoutClaims struct {
	Issuer  string                     `json:"iss"`
	Subject string                     `json:"sub"`
	SID     string                     `json:"sid"`
	JTI     string                     `json:"jti"`
	Issued  *json.Number               `json:"iat"`
	Expires *json.Number               `json:"exp"`
	Events  map[string]json.RawMessage `json:"events"`
	Nonce   *string                    `json:"nonce"`
}

func (a *Auth) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	p := a.provider.Load()
	if p == nil {
		a.notReady(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || len(r.PostForm["logout_token"]) != 1 {
		problem.Write(w, http.StatusBadRequest, "Bad logout request", "Send one logout_token as a form field.")
		return
	}
	ctx, cancel := context.WithTimeout(a.clientContext(r.Context()), a.cfg.IdPTimeout)
	defer cancel()
	c, err := a.verifyLogoutToken(ctx, p, r.PostForm.Get("logout_token"))
	if limited := (*keysLimited)(nil); errors.As(err, &limited) {
		// It may be the IdP's, signed with a key it has just rotated in.
		a.log.Info("back-channel logout deferred: the identity provider's keys were fetched too recently", "retry_after", limited.retryAfter)
		w.Header().Set("Retry-After", limited.retryAfterSeconds())
		problem.Write(w, http.StatusServiceUnavailable, "Logout token not checked yet", "Try again after Retry-After.")
		return
	}
	if err != nil {
		a.log.Info("back-channel logout refused", "err", err)
		problem.Write(w, http.StatusBadRequest, "Bad logout token", "")
		return
	}
	first, err := a.shared.SetNX(ctx, sharedKey("jti", c.Issuer, c.JTI), "1", 2*maxLogoutTokenAge)
	if err != nil {
		a.storeUnavailable(w, err)
		return
	}
	if !first {
		a.log.Info("back-channel logout refused: the token was used before")
		problem.Write(w, http.StatusBadRequest, "Bad logout token", "")
		return
	}
	if err := a.recordLogout(ctx, c); err != nil {
		// The IdP may retry; its retry must not look like a replay.
		_ = a.shared.Delete(ctx, sharedKey("jti", c.Issuer, c.JTI))
		a.storeUnavailable(w, err)
		return
	}
	a.log.Info("back-channel logout", "by_sid", c.SID != "")
	w.WriteHeader(http.StatusOK)
}

// recordLogout ends, for every replica, the sessions a verified logout
// token names: those of its IdP session, or with only a sub, every session
// of that subject that began before the token was issued.
func (a *Auth) recordLogout(ctx context.Context, c *logoutClaims) error {
	// As long as any session this ends could still live.
	ttl := a.cfg.SessionMaxAge + time.Minute
	if c.SID != "" {
		return a.shared.Set(ctx, endedIdPSessionKey(c.Issuer, c.SID), "1", ttl)
	}
	iat, _ := c.Issued.Int64()
	// A token that arrives late, or at the same time on another replica,
	// must not move the line back and let through sessions an earlier one
	// ended.
	return a.shared.SetMax(ctx, endedSubjectKey(c.Issuer, c.Subject), iat, ttl)
}

// verifyLogoutToken checks a logout token as section 2.6 of the spec
// asks: signed by the IdP's key, iss and aud (a string or an array holding
// the client id) as for an ID token, iat recent, exp when there is one,
// the back-channel logout event, a sid or a sub, and no nonce (so an ID
// token cannot pass for one).
func (a *Auth) verifyLogoutToken(ctx context.Context, p *provider, raw string) (*logoutClaims, error) {
	// exp is optional in a logout token (Hydra sends none): it is checked
	// below, when present.
	limited := new(keysLimited)
	tok, err := p.logoutVerifier.Verify(context.WithValue(ctx, keysLimitedKey{}, limited), raw)
	if limited.retryAfter > 0 {
		return nil, limited
	}
	if err != nil {
		return nil, fmt.Errorf("verifying: %w", err)
	}
	var c logoutClaims
	if err := tok.Claims(&c); err != nil {
		return nil, fmt.Errorf("claims: %w", err)
	}
	now := a.now()
	switch {
	case c.Nonce != nil:
		return nil, errors.New("a logout token has no nonce")
	case len(c.Events[backchannelEvent]) == 0 || c.Events[backchannelEvent][0] != '{':
		return nil, errors.New("no back-channel logout event")
	case c.SID == "" && c.Subject == "":
		return nil, errors.New("neither sid nor sub")
	case c.JTI == "":
		return nil, errors.New("no jti")
	case c.Issued == nil:
		return nil, errors.New("no iat")
	}
	iat, err := c.Issued.Int64()
	if err != nil {
		return nil, errors.New("iat is not a number of seconds")
	}
	if issued := time.Unix(iat, 0); issued.Before(now.Add(-maxLogoutTokenAge)) || issued.After(now.Add(time.Minute)) {
		return nil, errors.New("iat is not recent")
	}
	if c.Expires != nil {
		exp, err := c.Expires.Int64()
		if err != nil || !now.Before(time.Unix(exp, 0)) {
			return nil, errors.New("expired")
		}
	}
	return &c, nil
}

// storeUnavailable answers a request the shared store was needed for.
func (a *Auth) storeUnavailable(w http.ResponseWriter, err error) {
	a.log.Warn("shared store unavailable", "err", err)
	WriteError(w, fmt.Errorf("%w: %w", ErrStoreUnavailable, err))
}
