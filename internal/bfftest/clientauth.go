package bfftest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"bff/demo/idp/idptest"
)

// The two ways a confidential client sends its secret (RFC 6749 section
// 2.3.1; OpenID Connect Core section 9).
const (
	authBasic = "client_secret_basic" // HTTP Basic
	authPost  = "client_secret_post"  // client_id and client_secret in the form body
)

// clientAuth holds the client to method, as an IdP that keeps each client
// to its registered method does (Hydra): the token and revocation
// endpoints refuse, with 401 invalid_client, a request that authenticates
// any other way, and discovery lists method alone. The demo OP itself
// takes either.
func clientAuth(method string) (func(http.Handler) http.Handler, error) {
	if method != authBasic && method != authPost {
		return nil, fmt.Errorf("client auth method %q: want %s or %s", method, authBasic, authPost)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch p := r.URL.Path; {
			case strings.HasSuffix(p, oidc.DiscoveryEndpoint):
				listClientAuth(method, next, w, r)
				return
			case strings.HasSuffix(p, idptest.TokenPath), strings.HasSuffix(p, idptest.RevocationPath):
				if !usesClientAuth(method, r) {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Cache-Control", "no-store")
					w.WriteHeader(http.StatusUnauthorized)
					_ = json.NewEncoder(w).Encode(map[string]string{
						"error":             "invalid_client",
						"error_description": "this client authenticates with " + method,
					})
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}

// usesClientAuth reports whether r authenticates the client with method
// and no other way.
func usesClientAuth(method string, r *http.Request) bool {
	basic := strings.HasPrefix(r.Header.Get("Authorization"), "Basic ")
	// The OP parses the same form again; ParseForm keeps its result, so the
	// body is not read twice.
	post := r.ParseForm() == nil && r.PostForm.Has("client_secret")
	return (method == authBasic) == basic && (method == authPost) == post
}

// listClientAuth serves the OP's discovery document with method as the
// only way to authenticate at the token and revocation endpoints.
func listClientAuth(method string, next http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	var doc map[string]any
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	doc["token_endpoint_auth_methods_supported"] = []string{method}
	doc["revocation_endpoint_auth_methods_supported"] = []string{method}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}
