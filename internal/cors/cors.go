// Package cors lets an explicit list of other origins call bff with
// credentials. With an empty list it adds nothing: the browser's same-origin
// policy then keeps every other page from reading bff's answers, and
// SameSite=Strict keeps cross-site requests from carrying the session at
// all. Listed origins should be same-site (e.g. a sibling subdomain):
// a cross-site origin gets CORS headers but still no session cookie.
//
// This is bff's own rather than github.com/rs/cors (which the demo's
// OpenID provider links in anyway): a preflight from an unlisted origin
// gets a 403 problem like every other refusal instead of a bare 204, an
// origin is compared as browsers serialise it, there is no wildcard to
// configure by mistake, and a preflight's answer is one fixed list of
// headers that depends only on the origin, so caches keyed on Origin stay
// right.
package cors

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// DefaultHeaders are the request headers a listed origin may always send:
// bff's CSRF header, a JSON body's type, a request id, and W3C trace
// context, which browser tracing (OpenTelemetry's fetch instrumentation)
// adds to every call.
var DefaultHeaders = []string{"X-CSRF", "Content-Type", "X-Request-Id", "traceparent", "tracestate"}

// ParseHeaders parses BFF_CORS_HEADERS: comma-separated header names
// (RFC 9110 tokens), allowed in addition to [DefaultHeaders].
func ParseHeaders(s string) ([]string, error) {
	var out []string
	var errs []error
	for i, raw := range strings.Split(s, ",") {
		name := strings.TrimSpace(raw)
		switch {
		case name == "" && strings.TrimSpace(s) == "":
			continue
		case name == "":
			errs = append(errs, fmt.Errorf("entry %d: empty", i+1))
		case name == "*":
			errs = append(errs, fmt.Errorf("entry %d: * is no wildcard for requests with credentials; name each header", i+1))
		case !isToken(name):
			errs = append(errs, fmt.Errorf("entry %d %q: not a header name", i+1, name))
		default:
			out = append(out, name)
		}
	}
	return out, errors.Join(errs...)
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Handler wraps next with CORS for the allowed origins, whose requests may
// carry [DefaultHeaders] and headers.
func Handler(allowed, headers []string, next http.Handler) http.Handler {
	if len(allowed) == 0 {
		return next
	}
	allowHeaders := strings.Join(append(slices.Clone(DefaultHeaders), headers...), ", ")
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
			h.Set("Access-Control-Allow-Headers", allowHeaders)
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
