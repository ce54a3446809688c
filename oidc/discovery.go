package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

// Discovery is an OpenID provider's discovery document, as far as bff reads
// it. A Config that carries one starts ready, with no call to the IdP: the
// cold start of a serverless function stays off the network until the first
// request that needs the IdP (the JWKS is fetched when a first ID token is
// verified).
type Discovery struct {
	Issuer            string   `json:"issuer"`
	Authorization     string   `json:"authorization_endpoint"`
	Token             string   `json:"token_endpoint"`
	UserInfo          string   `json:"userinfo_endpoint"`
	JWKS              string   `json:"jwks_uri"`
	Algorithms        []string `json:"id_token_signing_alg_values_supported"`
	Revocation        string   `json:"revocation_endpoint"`
	EndSession        string   `json:"end_session_endpoint"`
	TokenAuthMethods  []string `json:"token_endpoint_auth_methods_supported"`
	RevokeAuthMethods []string `json:"revocation_endpoint_auth_methods_supported"`
}

// ParseDiscovery reads a discovery document. The endpoints bff cannot sign
// anyone in without (authorization, token, JWKS) must be absolute URLs, and
// the token endpoint must take a client authentication bff speaks.
// Whether it names the right issuer is the caller's to check.
func ParseDiscovery(doc []byte) (*Discovery, error) {
	var d Discovery
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("not a discovery document: %w", err)
	}
	var bad []string
	for _, f := range []struct{ name, v string }{
		{"issuer", d.Issuer},
		{"authorization_endpoint", d.Authorization},
		{"token_endpoint", d.Token},
		{"jwks_uri", d.JWKS},
	} {
		if u, err := url.Parse(f.v); err != nil || !u.IsAbs() || u.Host == "" {
			bad = append(bad, f.name)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: must be absolute URLs", strings.Join(bad, ", "))
	}
	if _, err := authStyle(d.TokenAuthMethods, d.RevokeAuthMethods); err != nil {
		return nil, err
	}
	return &d, nil
}

// signingAlgorithms are the ID token algorithms go-oidc verifies. Its
// network discovery drops the others from the document's list; a document
// read from a file gets the same treatment.
var signingAlgorithms = []string{
	gooidc.RS256, gooidc.RS384, gooidc.RS512, gooidc.ES256, gooidc.ES384, gooidc.ES512,
	gooidc.PS256, gooidc.PS384, gooidc.PS512, gooidc.EdDSA,
}

// joseAlgorithms are signingAlgorithms, for go-jose.
var joseAlgorithms = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(signingAlgorithms))
	for i, a := range signingAlgorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// algorithms are the ID token algorithms of d that go-oidc verifies.
func (d *Discovery) algorithms() []string {
	var algs []string
	for _, a := range d.Algorithms {
		if slices.Contains(signingAlgorithms, a) {
			algs = append(algs, a)
		}
	}
	return algs
}

// goProvider is go-oidc's provider for d, built without a network call. ctx
// only carries the HTTP client that later fetches the JWKS and userinfo.
func (d *Discovery) goProvider(ctx context.Context) *gooidc.Provider {
	algs := d.algorithms()
	pc := gooidc.ProviderConfig{
		IssuerURL:   d.Issuer,
		AuthURL:     d.Authorization,
		TokenURL:    d.Token,
		UserInfoURL: d.UserInfo,
		JWKSURL:     d.JWKS,
		Algorithms:  algs,
	}
	return pc.NewProvider(ctx)
}

// document is the provider's discovery document, Config.Discovery or else
// the issuer's, and go-oidc's provider for it.
func (a *Auth) document(ctx context.Context) (*gooidc.Provider, *Discovery, error) {
	if d := a.cfg.Discovery; d != nil {
		return d.goProvider(a.clientContext(context.WithoutCancel(ctx))), d, nil
	}
	ctx, cancel := context.WithTimeout(a.clientContext(ctx), 15*time.Second)
	defer cancel()
	p, err := gooidc.NewProvider(ctx, a.cfg.Issuer)
	if err != nil {
		return nil, nil, fmt.Errorf("discovery: %w", err)
	}
	var d Discovery
	if err := p.Claims(&d); err != nil {
		return nil, nil, fmt.Errorf("discovery document: %w", err)
	}
	return p, &d, nil
}
