// Package problem writes RFC 9457 problem details, the only error body bff
// ever sends. Callers pass a fixed title and detail chosen for the browser;
// internal error text belongs in the log, never here.
package problem

import (
	"encoding/json"
	"net/http"
)

// Details is the JSON body of an error response.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Write sends status with a problem+json body. The response is never cached:
// errors describe one request, not a resource.
func Write(w http.ResponseWriter, status int, title, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// An error body is data, never a page: nothing in it may run or load.
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Details{Type: "about:blank", Title: title, Status: status, Detail: detail})
}
