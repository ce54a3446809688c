package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Shared is a key-value store that every replica reaches (Redis), for
// what a sealed cookie cannot do alone: end a session before it expires,
// refresh once across replicas, keep a token set too large for a cookie.
// Reads come from a cache the store keeps true (its GetCached costs no
// round trip while nothing changes), so checking every request is cheap.
// Any error means the store cannot be reached: callers answer 503 and
// leave the cookie alone.
//
// Keys are hashes, so that the store never holds a token or an
// identifier; values are sealed wherever they hold one.
type Shared interface {
	GetCached(ctx context.Context, keys ...string) ([]string, error)
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error)
	// SetMax stores n under key for ttl unless key holds a number at least
	// as large, in one step: two writers cannot move it backwards.
	SetMax(ctx context.Context, key string, n int64, ttl time.Duration) error
	Delete(ctx context.Context, keys ...string) error
}

// sharedKey names a record in the shared store: the kind and a hash of
// what it is about.
func sharedKey(kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	// 128 bits of the hash name a record uniquely, and a short key is
	// cheaper for the client to route on every read.
	return "bff:" + kind + ":" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// Records of sessions that ended before their time. Each lives as long as
// the sessions it can end could.
func endedSessionKey(id string) string          { return sharedKey("end", id) }
func endedIdPSessionKey(iss, sid string) string { return sharedKey("end-sid", iss, sid) }
func endedSubjectKey(iss, sub string) string    { return sharedKey("end-sub", iss, sub) }

// ended reports whether s was ended early: by its own logout on any
// replica, by the IdP's back-channel logout of its IdP session, or of
// every session of its subject that began before the logout was issued.
func (a *Auth) ended(ctx context.Context, s *Session) (bool, error) {
	v := s.endRead
	s.endRead = nil // this request's answer, not the next one's
	if v == nil {
		if s.endKeys == nil {
			a.setEndKeys(s)
		}
		var err error
		if v, err = a.shared.GetCached(ctx, s.endKeys...); err != nil {
			return false, err
		}
	}
	if v[0] != "" || (len(v) > 2 && v[2] != "") {
		return true, nil
	}
	if v[1] != "" {
		before, err := strconv.ParseInt(v[1], 10, 64)
		// Within the same second, fail closed: the session ends.
		return err != nil || s.Created.Unix() <= before, nil
	}
	return false, nil
}

// setEndKeys names the records that would end s: its own logout, its
// subject's back-channel logout and, when the IdP named one (the ID
// token's sid), its IdP session's. Only the shared store reads them, so
// only it calls this, once per opened session; a change to s.ID,
// s.Subject or s.IDToken sets s.endKeys to nil.
func (a *Auth) setEndKeys(s *Session) {
	s.endKeys = []string{endedSessionKey(s.ID), endedSubjectKey(a.cfg.Issuer, s.Subject)}
	if sid := sidClaim(s.IDToken); sid != "" {
		s.endKeys = append(s.endKeys, endedIdPSessionKey(a.cfg.Issuer, sid))
	}
}

// endSession records that s is over, for every replica, until it would
// have ended anyway.
func (a *Auth) endSession(ctx context.Context, s *Session) error {
	ttl := s.Created.Add(a.cfg.SessionMaxAge).Sub(a.now()) + time.Minute
	if err := a.shared.Set(ctx, endedSessionKey(s.ID), "1", ttl); err != nil {
		return fmt.Errorf("ending the session: %w", err)
	}
	if s.handle != nil {
		if err := a.shared.Delete(ctx, s.handle.storeKey); err != nil {
			return fmt.Errorf("deleting the stored session: %w", err)
		}
	}
	return nil
}

// sidClaim is the IdP's session id in an ID token, "" when it has none.
// It runs only on tokens verified before they were sealed.
func sidClaim(idToken string) string {
	payload, err := jwtPayload(idToken)
	if err != nil {
		return ""
	}
	var c struct {
		SID string `json:"sid"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.SID
}
