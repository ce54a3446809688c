package oidc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Session is everything bff knows about a signed-in browser. It lives only
// inside the sealed session cookie: no replica keeps a copy, so any replica
// holding the cookie keys can serve, refresh and end it.
type Session struct {
	// ID is a random identifier the SPA must present to log out, so a
	// cross-site link cannot end the session.
	ID      string
	Subject string

	AccessToken  string
	AccessExpiry time.Time
	RefreshToken string
	IDToken      string

	// Extra holds the userinfo claims the ID token lacks, as JSON. The ID
	// token's own claims are read back from IDToken, not stored twice.
	Extra json.RawMessage

	Created  time.Time // start of the absolute lifetime
	LastSeen time.Time // start of the idle timeout

	// Not encoded: what is read off the above when the session is opened.
	handle *handleRef // where the session is kept, when the shared store keeps it
	// endKeys are the shared store's keys that would say the session was
	// ended early; computed once per opened cookie, since hashing them on
	// every request would cost more than reading them.
	endKeys []string
	// endRead is what the store answered for endKeys on this request,
	// when it was read with the record the session was opened from.
	endRead []string
}

// LogValue keeps tokens out of every log line, whatever the handler.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("sub", s.Subject),
		slog.Time("access_expiry", s.AccessExpiry),
		slog.Bool("refreshable", s.RefreshToken != ""),
	)
}

// String guards fmt verbs the same way LogValue guards slog.
func (s *Session) String() string { return fmt.Sprintf("session(sub=%q)", s.Subject) }

// GoString guards %#v.
func (s *Session) GoString() string { return s.String() }

// expiresAt is when the session ends if nothing happens: the earlier of its
// absolute and idle limits.
func (s *Session) expiresAt(maxAge, idle time.Duration) time.Time {
	end := s.Created.Add(maxAge)
	if idleEnd := s.LastSeen.Add(idle); idleEnd.Before(end) {
		end = idleEnd
	}
	return end
}

// claims merges the ID token's user claims with the extra userinfo claims.
// Protocol claims (iss, aud, nonce, ...) describe the token, not the user,
// so the SPA never sees them.
func (s *Session) claims() map[string]any {
	out := map[string]any{}
	if payload, err := jwtPayload(s.IDToken); err == nil {
		_ = json.Unmarshal(payload, &out)
	}
	for k := range out {
		if isProtocolClaim(k) {
			delete(out, k)
		}
	}
	if len(s.Extra) > 0 {
		var extra map[string]any
		if json.Unmarshal(s.Extra, &extra) == nil {
			for k, v := range extra {
				out[k] = v
			}
		}
	}
	return out
}

func isProtocolClaim(name string) bool {
	switch name {
	case "iss", "aud", "azp", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "sid", "auth_time", "jti", "amr", "acr", "client_id":
		return true
	}
	return false
}
