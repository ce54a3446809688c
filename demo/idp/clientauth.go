package idp

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
)

// The two ways a confidential client sends its secret (RFC 6749 section
// 2.3.1; OpenID Connect Core section 9).
const (
	authBasic = "client_secret_basic" // HTTP Basic
	authPost  = "client_secret_post"  // client_id and client_secret in the form body
)

// clientAuth refuses, with 401 invalid_client, a request that
// authenticates the client any other way than method; an empty method
// accepts both. op itself takes either.
func clientAuth(method string, next http.Handler) http.Handler {
	if method == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		basic := strings.HasPrefix(r.Header.Get("Authorization"), "Basic ")
		post := r.ParseForm() == nil && r.PostForm.Has("client_secret")
		if (method == authBasic) != basic || (method == authPost) != post {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{
				"error":             "invalid_client",
				"error_description": "this client authenticates with " + method,
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// listClientAuth makes the discovery document list method alone as the
// way to authenticate at the token and revocation endpoints; an empty
// method leaves op's document as it is.
func listClientAuth(method string, next http.Handler) http.Handler {
	if method == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	})
}
