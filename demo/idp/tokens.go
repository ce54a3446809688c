package idp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// A grant is everything one successful login handed to the client: the
// first access token and refresh token, and every token later refreshed from
// them. They share a grant id, so revoking any refresh token (RFC 7009
// section 2.1) or ending the session takes the whole family down.

// accessToken is the server-side record of a JWT access token. The JWT
// verifies on its own until it expires; the record is what userinfo and
// introspection consult, so revocation is visible there.
type accessToken struct {
	id       string
	grantID  string
	clientID string
	subject  string
	scopes   []string
	sid      string // the browser session at the OP the grant began in
	expires  time.Time
}

// refreshToken is keyed by its value in storage.refreshTokens.
type refreshToken struct {
	grantID  string
	clientID string
	subject  string
	scopes   []string
	amr      []string
	authTime time.Time
	sid      string // the browser session at the OP, for the ID tokens' sid
	expires  time.Time
	// rotated is when a refresh grant replaced this token with a new one;
	// zero while it is the grant's current token.
	rotated time.Time
}

type redeemedCode struct {
	grantID string
	at      time.Time
}

// redeemable reports whether t may still buy tokens: it has not expired,
// and it is either current or was rotated out less than the reuse interval
// ago. A zero interval makes rotation strict.
func (s *storage) redeemable(t *refreshToken, now time.Time) bool {
	if now.After(t.expires) {
		return false
	}
	return t.rotated.IsZero() || (s.reuse > 0 && now.Sub(t.rotated) <= s.reuse)
}

// CreateAccessToken issues an access token without a refresh token: the
// code flow when offline_access was not requested.
func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	a, ok := req.(*authRequest)
	if !ok {
		return "", time.Time{}, fmt.Errorf("unsupported token request %T", req)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.sweep(now)
	at := s.newAccessToken(s.newGrant(a, now), a.clientID, a.subject, a.sid, a.scopes, now)
	return at.id, at.expires, nil
}

// CreateAccessAndRefreshTokens issues the tokens of a code exchange that
// requested offline_access, or of a refresh grant. A refresh always rotates:
// the presented token is marked rotated out and a new one is returned.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.sweep(now)

	switch r := req.(type) {
	case *authRequest:
		grantID := s.newGrant(r, now)
		at := s.newAccessToken(grantID, r.clientID, r.subject, r.sid, r.scopes, now)
		rt := s.newRefreshToken(&refreshToken{
			grantID:  grantID,
			clientID: r.clientID,
			subject:  r.subject,
			scopes:   r.scopes,
			amr:      r.GetAMR(),
			authTime: r.authTime,
			sid:      r.sid,
		}, now)
		return at.id, rt, at.expires, nil

	case *refreshRequest:
		// TokenRequestByRefreshToken already checked the token, but another
		// request may have rotated or revoked it since; this check, under
		// the lock, is the one that counts.
		old, ok := s.refreshTokens[current]
		if !ok || current != r.token || !s.redeemable(old, now) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("refresh token is invalid, expired, revoked or already rotated")
		}
		if old.rotated.IsZero() {
			old.rotated = now
		}
		// The access token may carry scopes narrowed by the request; the
		// new refresh token keeps the grant's (RFC 6749 section 6).
		at := s.newAccessToken(old.grantID, old.clientID, old.subject, old.sid, r.scopes, now)
		next := *old
		next.rotated = time.Time{}
		rt := s.newRefreshToken(&next, now)
		return at.id, rt, at.expires, nil

	default:
		return "", "", time.Time{}, fmt.Errorf("unsupported token request %T", req)
	}
}

// newGrant starts the token family of a code exchange and remembers which
// code bought it, so a replay of that code can revoke it. The caller holds
// s.mu.
func (s *storage) newGrant(a *authRequest, now time.Time) string {
	id := rand.Text()
	if a.code != "" {
		s.redeemed[a.code] = redeemedCode{grantID: id, at: now}
	}
	return id
}

// newAccessToken records an access token; op signs the JWT with its id as
// jti. The caller holds s.mu.
func (s *storage) newAccessToken(grantID, clientID, subject, sid string, scopes []string, now time.Time) *accessToken {
	t := &accessToken{
		id:       rand.Text(),
		grantID:  grantID,
		clientID: clientID,
		subject:  subject,
		sid:      sid,
		scopes:   slices.Clone(scopes),
		expires:  now.Add(s.accessTTL),
	}
	s.accessTokens[t.id] = t
	return t
}

// newRefreshToken stores t under a fresh random value, which is both its id
// and the credential, and returns that value. The caller holds s.mu.
func (s *storage) newRefreshToken(t *refreshToken, now time.Time) string {
	t.scopes = slices.Clone(t.scopes)
	t.amr = slices.Clone(t.amr)
	t.expires = now.Add(s.refreshTTL)
	v := rand.Text() + rand.Text() // 256 bits
	s.refreshTokens[v] = t
	return v
}

// TokenRequestByRefreshToken is op's first look at a presented refresh
// token; its error becomes invalid_grant.
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refreshTokens[token]
	if !ok || !s.redeemable(t, time.Now()) {
		return nil, errNotFound
	}
	return &refreshRequest{
		token:    token,
		grantID:  t.grantID,
		clientID: t.clientID,
		subject:  t.subject,
		scopes:   slices.Clone(t.scopes),
		amr:      slices.Clone(t.amr),
		authTime: t.authTime,
		sid:      t.sid,
	}, nil
}

// GetRefreshTokenInfo tells the revocation endpoint whether a token is one
// of our refresh tokens. The token value doubles as its id.
func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refreshTokens[token]
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.subject, token, nil
}

// RevokeToken serves the revocation endpoint. A refresh token takes its
// whole grant with it; an access token (op passes its jti) goes alone. An
// unknown token is not an error (RFC 7009 section 2.2): the caller wanted it
// invalid, and it is.
func (s *storage) RevokeToken(_ context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.refreshTokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		s.revokeGrant(t.grantID)
		return nil
	}
	if t, ok := s.accessTokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.accessTokens, tokenOrID)
	}
	return nil
}

// TerminateSession serves end_session: everything the user's logins gave
// this client is revoked, and the user's browser sessions at the OP end.
func (s *storage) TerminateSession(_ context.Context, userID, clientID string) error {
	if userID == "" {
		// No id_token_hint, so no idea whose session this is.
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	grants := make(map[string]bool)
	for _, t := range s.refreshTokens {
		if t.subject == userID && t.clientID == clientID {
			grants[t.grantID] = true
		}
	}
	for _, t := range s.accessTokens {
		if t.subject == userID && t.clientID == clientID {
			grants[t.grantID] = true
		}
	}
	for g := range grants {
		s.revokeGrant(g)
	}
	s.endSessions(userID)
	return nil
}

// revokeGrant forgets every token of one grant. The caller holds s.mu.
func (s *storage) revokeGrant(grantID string) {
	for v, t := range s.refreshTokens {
		if t.grantID == grantID {
			delete(s.refreshTokens, v)
		}
	}
	for id, t := range s.accessTokens {
		if t.grantID == grantID {
			delete(s.accessTokens, id)
		}
	}
}

// activeAccessToken returns a copy of the record of an unexpired, unrevoked
// access token.
func (s *storage) activeAccessToken(id string) (accessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.accessTokens[id]
	if !ok || time.Now().After(t.expires) {
		return accessToken{}, errors.New("access token is invalid, expired or revoked")
	}
	c := *t
	c.scopes = slices.Clone(t.scopes)
	return c, nil
}
