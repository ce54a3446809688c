package server

import (
	"net/http"
	"net/url"
	"strings"

	"bff/internal/endpoint"
	"bff/internal/policy"
	"bff/internal/problem"
	"bff/internal/static"
)

// protect makes the pages under BFF_PROTECTED_PATHS need a session. A
// browser navigating there without one is sent to sign in, and comes back
// to the page it asked for; anything else (a script's fetch) gets 401,
// never a redirect it could not follow.
func (s *Server) protect(next http.Handler) http.Handler {
	paths := s.cfg.ProtectedPaths
	if len(paths) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !covered(paths, r.URL.Path) || s.auth.SignedIn(w, r) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if !static.IsNavigation(r) {
			problem.Write(w, http.StatusUnauthorized, "Not signed in", "")
			return
		}
		returnTo := r.URL.RequestURI()
		if !policy.IsLocalPath(returnTo) {
			problem.Write(w, http.StatusBadRequest, "Bad path", "")
			return
		}
		w.Header().Set("Location", endpoint.Login+"?returnTo="+url.QueryEscape(returnTo))
		w.WriteHeader(http.StatusFound)
	})
}

// covered reports whether path lies under one of the protected prefixes:
// "/app" and "/app/" both cover "/app" and everything below it, and "/"
// covers every path.
func covered(prefixes []string, path string) bool {
	for _, p := range prefixes {
		p = strings.TrimSuffix(p, "/")
		if p == "" || path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}
