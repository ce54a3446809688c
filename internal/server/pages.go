package server

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"bff/internal/endpoint"
	"bff/internal/policy"
	"bff/internal/problem"
	"bff/internal/static"
	"bff/oidc"
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
		if !covered(paths, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		err := s.auth.SignedIn(w, r)
		switch {
		case err == nil:
			next.ServeHTTP(w, r)
			return
		case errors.Is(err, oidc.ErrUnavailable):
			oidc.WriteError(w, err)
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
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			// Arriving from another site (the IdP's redirect back, a link
			// in an email), the browser withheld the SameSite=Strict
			// session cookie. Asking again from this origin shows whether
			// there is a session, instead of sending a signed-in user
			// round to sign in again, and again.
			continuePage(w, returnTo)
			return
		}
		w.Header().Set("Location", endpoint.Login+"?returnTo="+url.QueryEscape(returnTo))
		w.WriteHeader(http.StatusFound)
	})
}

// continuePage loads target again, as a navigation from this origin: a
// meta refresh, which needs no script, with a link for whoever has
// refreshes turned off.
func continuePage(w http.ResponseWriter, target string) {
	target = refreshURLEscaper.Replace(target)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	_ = continueTemplate.Execute(w, target)
}

// refreshURLEscaper percent-encodes what would end the URL inside a meta
// refresh's content, or start another of its parameters there:
// html/template escapes quotes for the attribute, but the browser decodes
// them again before it parses the refresh.
var refreshURLEscaper = strings.NewReplacer(`'`, "%27", `"`, "%22", " ", "%20", ";", "%3B")

var continueTemplate = template.Must(template.New("continue").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={{.}}">
<title>Continue</title></head>
<body><p><a href="{{.}}">Continue</a></p></body></html>
`))

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
