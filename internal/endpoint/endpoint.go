// Package endpoint names bff's own paths: the /auth/ endpoints and the
// probes. Everything that needs to know them — the auth handler that serves
// them, the rate limiter, the access log's route names, the proxy's and the
// protected pages' refusal to shadow them — reads them here, so adding an
// endpoint is one edit here and its handler.
package endpoint

import (
	"slices"
	"strings"
)

// Auth is the prefix of every endpoint the oidc package serves.
const Auth = "/auth/"

// bff's own endpoints.
const (
	Login    = "/auth/login"
	Callback = "/auth/callback"
	Session  = "/auth/session"
	Logout   = "/auth/logout"
	Token    = "/auth/token"
	// BackchannelLogout exists only with the shared store (Redis).
	BackchannelLogout = "/auth/backchannel-logout"

	Health = "/healthz"
	Ready  = "/readyz"
)

// All lists bff's own endpoints.
func All() []string {
	return []string{Login, Callback, Session, Logout, Token, BackchannelLogout, Health, Ready}
}

// RateLimited lists the endpoints limited per client address: each costs
// a round trip to the identity provider, and needs no session first.
func RateLimited() []string { return []string{Login, Callback} }

// Name is path's name for metrics and the access log when path is one of
// bff's own: the endpoint itself, "/auth/*" for anything else under /auth/,
// or "" when path is not bff's.
func Name(path string) string {
	if slices.Contains(All(), path) {
		return path
	}
	if strings.HasPrefix(path, Auth) || path == Auth[:len(Auth)-1] {
		return Auth + "*"
	}
	return ""
}

// Reserved reports whether prefix, a path prefix ending in "/" that an
// operator configured (a proxy route, a protected path), lies within one
// of bff's own paths, and names that path. The prefix "/" contains them
// all without lying within any; whoever accepts it decides what it means.
func Reserved(prefix string) (string, bool) {
	switch {
	case strings.HasPrefix(prefix, Auth):
		return Auth, true
	case prefix == Health+"/":
		return Health, true
	case prefix == Ready+"/":
		return Ready, true
	}
	return "", false
}
