package idp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// A user can sign out at the OP itself, not only through the client: the
// OP's account page has a button for it. Every grant made in that browser
// session is revoked, and the client is told over its back-channel logout
// URI (OpenID Connect Back-Channel Logout 1.0), so its session ends too,
// though the browser never visits it.

// logoutTokenLifetime bounds how long a logout token is accepted: it is
// delivered at once or not at all.
const logoutTokenLifetime = 2 * time.Minute

// backchannelTimeout bounds one delivery, so a client that hangs does not
// hold the user's sign-out page.
const backchannelTimeout = 5 * time.Second

// errNoBackchannel is a sign-out's outcome when the client registered no
// back-channel logout URI.
var errNoBackchannel = errors.New("the client has no back-channel logout uri")

// backchannel delivers logout tokens to the client.
type backchannel struct {
	uri      string // "" when the client registered none
	issuer   string
	clientID string
	key      *signingKey
	client   *http.Client
	log      *slog.Logger
}

// notify tells the client that the browser session sess is over.
func (b *backchannel) notify(ctx context.Context, sess ssoSession) error {
	if b.uri == "" {
		return errNoBackchannel
	}
	claims := oidc.NewLogoutTokenClaims(b.issuer, sess.subject, oidc.Audience{b.clientID},
		time.Now().Add(logoutTokenLifetime), rand.Text(), sess.sid, 0)
	token, err := b.sign(claims)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, backchannelTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.uri,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return fmt.Errorf("back-channel logout request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("back-channel logout: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("back-channel logout: the client answered %s", resp.Status)
	}
	return nil
}

// sign makes the logout token a JWT signed with the OP's key, typed
// logout+jwt as the specification recommends so it cannot pass for an ID
// token.
func (b *backchannel) sign(claims *oidc.LogoutTokenClaims) (string, error) {
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: b.key.key, KeyID: b.key.id}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", fmt.Errorf("logout token signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("logout token claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign logout token: %w", err)
	}
	return jws.CompactSerialize()
}

// endBrowserSession ends the browser session the cookie value names and
// revokes every grant made in it. It reports the session it ended, if the
// value named one.
func (s *storage) endBrowserSession(id string) (ssoSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return ssoSession{}, false
	}
	delete(s.sessions, id)
	grants := make(map[string]bool)
	for _, t := range s.refreshTokens {
		if t.sid == sess.sid {
			grants[t.grantID] = true
		}
	}
	for _, t := range s.accessTokens {
		if t.sid == sess.sid {
			grants[t.grantID] = true
		}
	}
	for g := range grants {
		s.revokeGrant(g)
	}
	return *sess, true
}
