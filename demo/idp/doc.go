// Package idp is a small, real OpenID provider that runs in process: the OP
// behind `bff demo` and behind bff's integration tests.
//
// The protocol is zitadel's op package, not hand-written: discovery,
// authorize, token, userinfo, introspection, revocation, end_session and the
// JWKS are all op's. This package supplies what op leaves to its user: an
// in-memory storage, one confidential client and a login form. Tests watch
// and steer it from outside, through package idptest.
//
// Relative to the issuer, the Provider serves:
//
//	/.well-known/openid-configuration  discovery
//	/authorize, /authorize/callback    the code flow (PKCE S256)
//	/login                             the login form op redirects to
//	/oauth/token                       authorization_code and refresh_token grants
//	/userinfo, /oauth/introspect       claims about an access token
//	/revoke                            RFC 7009 revocation
//	/end_session, /logged-out          RP-initiated logout
//	/keys                              the JWKS
//
// Tokens: access tokens are RS256 JWTs whose "aud" is the client id, so a
// resource server can verify them with the JWKS alone. A refresh token is
// issued when offline_access is requested, and every refresh rotates it;
// see Config.RefreshReuseInterval for how a rotated-out token is treated.
// Everything one login produced forms a grant: revoking any of its refresh
// tokens, or ending the user's session, revokes all of it.
//
// A typical mount, with the issuer "http://127.0.0.1:8080/idp":
//
//	p, err := idp.New(idp.Config{Issuer: "http://127.0.0.1:8080/idp", ...})
//	mux.Handle("/idp/", http.StripPrefix("/idp", p))
//
// op logs through slog.Default, which this package leaves alone;
// Config.Logger receives only this package's own lines, and those never
// contain a password or a token.
package idp
