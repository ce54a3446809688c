// Package cors lets an explicit list of other origins call bff with
// credentials. With an empty list it adds nothing: the browser's same-origin
// policy then keeps every other page from reading bff's answers, and
// SameSite=Strict keeps cross-site requests from carrying the session at
// all. Listed origins should be same-site (e.g. a sibling subdomain):
// a cross-site origin gets CORS headers but still no session cookie.
package cors

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"bff/internal/policy"
	"bff/internal/problem"
)

// ParseOrigins parses a comma-separated list of origins such as
// "https://admin.example.com, https://app2.example.com".
func ParseOrigins(s string) ([]string, error) {
	var out []string
	var errs []error
	for i, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			if strings.TrimSpace(s) != "" {
				errs = append(errs, fmt.Errorf("entry %d: empty", i+1))
			}
			continue
		}
		o, err := policy.Origin(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d %q: %w", i+1, raw, err))
			continue
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}

// Handler wraps next with CORS for the allowed origins.
func Handler(allowed []string, next http.Handler) http.Handler {
	if len(allowed) == 0 {
		return next
	}
	set := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		set[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		ok := origin != "" && set[strings.ToLower(origin)]
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			if !ok {
				problem.Write(w, http.StatusForbidden, "Origin not allowed", "")
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "X-CSRF, Content-Type, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if ok {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "X-Request-Id")
		}
		next.ServeHTTP(w, r)
	})
}
