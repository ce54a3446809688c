package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkProxy measures a GET through Proxy.ServeHTTP to a local upstream
// over the real transport, against the same GET sent to the upstream
// directly: the difference is what the proxy adds per request.
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"orders":[]}`)
	}))
	defer up.Close()
	transport := NewTransport()
	defer transport.CloseIdleConnections()

	b.Run("direct", func(b *testing.B) {
		req, _ := http.NewRequest(http.MethodGet, up.URL+"/v1/orders?page=2", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		b.ReportAllocs()
		for b.Loop() {
			res, err := transport.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})

	b.Run("proxy", func(b *testing.B) {
		p, err := New(Config{
			Routes:       []Route{{Prefix: "/api/", Upstream: mustURL(b, up.URL+"/v1")}},
			Tokens:       &testTokens{token: testToken},
			OwnsCookie:   ownsCookie,
			PublicOrigin: testOrigin,
			Transport:    transport,
		})
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/api/orders?page=2", nil)
		req.Header.Set("X-Csrf", "1")
		req.Header.Set("Cookie", "__Host-bff-session=SEALED; theme=dark")
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}
