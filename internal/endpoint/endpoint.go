// Package endpoint names bff's own paths: the /auth/ endpoints and the
// probes. Everything that needs to know them — the auth handler that serves
// them, the rate limiter, the access log's route names, the proxy's and the
// protected pages' refusal to shadow them — reads them here, so adding an
// endpoint is one edit.
package endpoint

import "strings"

// Auth is the prefix of every endpoint the oidc package serves.
const Auth = "/auth/"

// bff's own endpoints.
const (
	Login    = "/auth/login"
	Callback = "/auth/callback"
	Session  = "/auth/session"
	Logout   = "/auth/logout"
	Token    = "/auth/token"

	Health = "/healthz"
	Ready  = "/readyz"
)

// RateLimited reports whether path is an endpoint that costs a round trip
// to the identity provider without needing a session first, so it is
// limited per client address.
func RateLimited(path string) bool {
	return path == Login || path == Callback
}

// Probe reports whether path is a health or readiness probe, which
// orchestrators call every few seconds.
func Probe(path string) bool { return path == Health || path == Ready }

// Name is path's name for metrics and the access log when path is one of
// bff's own: the endpoint itself, "/auth/*" for anything else under /auth/,
// or "" when path is not bff's.
func Name(path string) string {
	switch path {
	case Login, Callback, Session, Logout, Token, Health, Ready:
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
