package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"bff/internal/bfftest"
)

// BenchmarkProxiedRequest is one API call through the whole server, as the
// load test sends it (a valid session, X-CSRF, a small answer), without
// the network in front: what bff itself costs per request, and what it
// allocates.
func BenchmarkProxiedRequest(b *testing.B) {
	s := bfftest.NewStack(b, bfftest.StackOptions{Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":42,"status":"ok"}`)
	})})
	s.Login()
	srv := s.Replicas[0].Server
	cookies := s.SessionCookies()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/items", nil)
		req.Header.Set("X-CSRF", "1")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
