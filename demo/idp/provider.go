package idp

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"

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
// the login form and in-memory storage.
type Provider struct {
	mux *http.ServeMux
	op  *op.Provider
	log *slog.Logger
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
		// Discovery says so, and that logout tokens carry sid.
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
		CodeMethodS256:                    true,
		AuthMethodPost:                    true,
		GrantTypeRefreshToken:             true,
		SupportedUILocales:                []language.Tag{language.English},
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

	p := &Provider{op: provider, log: s.log}
	bc := &backchannel{
		uri: s.backchannelURI, issuer: s.issuer, clientID: s.clientID, key: key, client: s.httpClient, log: s.log,
	}
	login := newLoginForm(s, store, op.AuthCallbackURL(provider), bc)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+loginPath, login.show)
	mux.HandleFunc("POST "+loginPath, login.submit)
	mux.HandleFunc("GET "+loggedOutPath, serveLoggedOut)
	mux.HandleFunc("GET "+accountPath, login.account)
	mux.HandleFunc("POST "+signOutPath, login.signOut)
	mux.Handle(provider.TokenEndpoint().Relative(), logGrants(s.log, provider))
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

func serveLoggedOut(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("You are signed out.\n"))
}
