package bfftest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"bff/demo/idp/idptest"
)

// The wrappers here are for [OPOptions.Wrap]: they make the OP's token
// endpoint answer what a misbehaving IdP, or a network in front of it,
// answers.

// OPEndpoint reports whether r is for the OP endpoint at rel, a path
// relative to the issuer such as "/oauth/token".
func OPEndpoint(r *http.Request, rel string) bool { return strings.HasSuffix(r.URL.Path, rel) }

// GrantOf is the grant type of a token request. The OP parses the form
// again; ParseForm keeps its result, so the body is not read twice.
func GrantOf(r *http.Request) string {
	if r.ParseForm() != nil {
		return ""
	}
	return r.PostForm.Get("grant_type")
}

// tokenRequest reports whether r asks the token endpoint for grant; ""
// is any grant.
func tokenRequest(r *http.Request, grant string) bool {
	return OPEndpoint(r, idptest.TokenPath) && (grant == "" || GrantOf(r) == grant)
}

// AnswerToken answers the OP's token requests of one grant type itself,
// without passing them on: the OP never sees the request.
func AnswerToken(grant string, status int, contentType, body string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !tokenRequest(r, grant) {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		})
	}
}

// RewriteToken lets the OP answer token requests of one grant type (""
// is every grant), then changes one field of its JSON answer: change
// returns the new value, or nil to drop the field. The OP must grant
// the request: the fault needs a good answer to spoil.
func RewriteToken(grant, field string, change func(old any) any) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !tokenRequest(r, grant) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			var m map[string]any
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
				panic(fmt.Sprintf("the OP refused a %q grant (%d); the fault needs a good answer to spoil", GrantOf(r), rec.Code))
			}
			if v := change(m[field]); v == nil {
				delete(m, field)
			} else {
				m[field] = v
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			_ = json.NewEncoder(w).Encode(m)
		})
	}
}
