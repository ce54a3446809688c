package idp

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"golang.org/x/text/language"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// loggedOutPath is where end_session sends a browser that named no
// registered post_logout_redirect_uri.
const loggedOutPath = "/logged-out"

// Provider is an OpenID provider serving one confidential client. The
// protocol endpoints (discovery, authorize, token, userinfo, revocation,
// introspection, end_session, keys) are zitadel's op package; Provider adds
// the login form, in-memory storage, and the hooks tests use to see what
// happened.
type Provider struct {
	mux   *http.ServeMux
	op    *op.Provider
	store *storage
	log   *slog.Logger

	mu     sync.Mutex
	counts Counts
	issued []string
}

// Counts is what the OP has served so far, for tests to assert on.
type Counts struct {
	AuthCodeGrants int // successful authorization_code exchanges
	RefreshGrants  int // successful refresh_token grants
	RefreshRefused int // refresh_token grants refused (invalid_grant etc.)
	Revocations    int // calls to the revocation endpoint
	EndSessions    int // calls to end_session
	UserinfoCalls  int // calls to the userinfo endpoint
}

// New returns a Provider for cfg, with a fresh RSA-2048 signing key that
// exists only in memory.
func New(cfg Config) (*Provider, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, fmt.Errorf("idp config: %w", err)
	}
	key, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	c := &client{
		id:                     s.clientID,
		redirectURIs:           s.redirectURIs,
		postLogoutRedirectURIs: s.postLogoutRedirectURIs,
		loginURL:               s.issuer + loginPath,
		idTTL:                  s.idTTL,
	}
	store := newStorage(s, c, key)

	opConfig := &op.Config{
		// op seals the auth request id with CryptoKey to make each
		// authorization code; a fresh random key per Provider keeps codes
		// from one run meaningless to the next.
		CryptoKey:                cryptoKey(),
		DefaultLogoutRedirectURI: s.issuer + loggedOutPath,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes: []string{
			oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess,
		},
		SupportedClaims: []string{
			"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash",
			"name", "given_name", "family_name", "preferred_username", "email", "email_verified",
		},
	}
	// op logs through slog.Default and ignores op.WithLogger, so cfg.Logger
	// is used only for this package's own lines.
	provider, err := op.NewProvider(opConfig, store, op.StaticIssuer(s.issuer),
		// The demo serves plain http on loopback.
		op.WithAllowInsecure(),
	)
	if err != nil {
		return nil, fmt.Errorf("create op: %w", err)
	}

	p := &Provider{op: provider, store: store, log: s.log}
	login := newLoginForm(s, store, op.AuthCallbackURL(provider))
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+loginPath, login.show)
	mux.HandleFunc("POST "+loginPath, login.submit)
	mux.HandleFunc("GET "+loggedOutPath, serveLoggedOut)
	mux.HandleFunc(provider.TokenEndpoint().Relative(), p.serveToken)
	mux.Handle(provider.RevocationEndpoint().Relative(), p.counting(provider, func(c *Counts) { c.Revocations++ }))
	mux.Handle(provider.EndSessionEndpoint().Relative(), p.counting(provider, func(c *Counts) { c.EndSessions++ }))
	mux.Handle(provider.UserinfoEndpoint().Relative(), p.counting(provider, func(c *Counts) { c.UserinfoCalls++ }))
	mux.Handle("/", provider)
	p.mux = mux
	return p, nil
}

// cryptoKey returns 32 random bytes. crypto/rand.Read never fails.
func cryptoKey() [32]byte {
	var k [32]byte
	_, _ = rand.Read(k[:])
	return k
}

// ServeHTTP serves the OP. Requests must arrive with the issuer's path
// prefix stripped.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mux.ServeHTTP(w, r)
}

// Counts returns what the OP has served so far. Safe for concurrent use.
func (p *Provider) Counts() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts
}

// IssuedTokens returns every access, refresh and ID token the token endpoint
// has handed out so far, in order, so tests can assert that none of them
// ever shows up where it must not.
func (p *Provider) IssuedTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.issued)
}

// RevokeAll invalidates every access and refresh token, as an administrator
// ending all sessions would: the next refresh is refused with invalid_grant
// (HTTP 400) and userinfo refuses the access tokens. Access tokens remain
// valid JWTs until they expire, as they would at any OP.
func (p *Provider) RevokeAll() {
	p.store.revokeAll()
	p.log.Info("all tokens revoked")
}

// counting counts a call before passing it on, so the count is up to date
// by the time the caller sees the response.
func (p *Provider) counting(next http.Handler, count func(*Counts)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		count(&p.counts)
		p.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func serveLoggedOut(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("You are signed out.\n"))
}
