package idp

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// client is the one relying party the OP serves, as op.Client describes it.
type client struct {
	id                     string
	redirectURIs           []string
	postLogoutRedirectURIs []string
	loginURL               string // absolute URL of the login form, without query
	idTTL                  time.Duration
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.id }
func (c *client) RedirectURIs() []string           { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.postLogoutRedirectURIs }

// ApplicationType is web: a confidential client that keeps its secret on a
// server, which is exactly what a BFF is.
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }

// AuthMethod is client_secret_basic; op also accepts the secret in the form
// body (client_secret_post) because the provider enables AuthMethodPost.
func (c *client) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

func (c *client) LoginURL(authRequestID string) string {
	return c.loginURL + "?authRequestID=" + url.QueryEscape(authRequestID)
}

// AccessTokenType is JWT so that a resource server can verify access tokens
// against the JWKS alone, without calling back to the OP.
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }

func (c *client) IDTokenLifetime() time.Duration { return c.idTTL }

// DevMode lets op accept the plain-http loopback redirect URIs the demo and
// the tests use; the redirect URIs must still match the registered ones
// exactly.
func (c *client) DevMode() bool { return true }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return keepScopes
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return keepScopes
}

// IsScopeAllowed refuses every scope beyond the standard ones op knows.
func (c *client) IsScopeAllowed(string) bool { return false }

// IDTokenUserinfoClaimsAssertion puts the profile and email claims into the
// ID token even when an access token is issued alongside it, so a relying
// party learns who logged in without a userinfo round trip.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *client) ClockSkew() time.Duration { return 0 }

func keepScopes(scopes []string) []string { return scopes }
