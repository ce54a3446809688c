package oidc

import (
	"context"
	"errors"
	"net/url"
	"strings"
)

// refreshTraced is refreshTokens in a span of its own, under the request's,
// so that a trace shows the refresh, and the token call under it, on the
// request that waited for it.
func (a *Auth) refreshTraced(ctx context.Context, s *Session) (refreshResult, error) {
	ctx, end := a.obs.Span(ctx, "refresh")
	res, err := a.refreshTokens(ctx, s)
	switch {
	case err == nil:
		end("")
	case errors.Is(err, errRefused):
		end("refused")
	default:
		end("unavailable")
	}
	return res, err
}

// CallName names a call bff makes to the identity provider by its purpose,
// for traces: "discovery", "token", "userinfo", "revocation", or "other"
// (the signing keys). It compares without the query, and never returns
// any part of u.
func (a *Auth) CallName(u *url.URL) string {
	if strings.HasSuffix(u.Path, "/.well-known/openid-configuration") {
		return "discovery"
	}
	p := a.provider.Load()
	if p == nil {
		return "other"
	}
	userinfo := ""
	if p.userinfo != nil {
		userinfo = p.userinfo.UserInfoEndpoint()
	}
	for _, e := range []struct{ name, url string }{
		{"token", p.oauth2.Endpoint.TokenURL},
		{"userinfo", userinfo},
		{"revocation", p.revocation},
	} {
		if e.url != "" && sameEndpoint(u, e.url) {
			return e.name
		}
	}
	return "other"
}

func sameEndpoint(u *url.URL, endpoint string) bool {
	e, err := url.Parse(endpoint)
	return err == nil && strings.EqualFold(e.Scheme, u.Scheme) && strings.EqualFold(e.Host, u.Host) && e.Path == u.Path
}
