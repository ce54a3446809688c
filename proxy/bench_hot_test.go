package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
)

// BenchmarkProxyVsBare sends the same API call, with a session-sized
// Cookie header, through Proxy.ServeHTTP (token already in hand) and
// through a bare httputil.ReverseProxy on the same transport and with
// pooled buffers: the difference is what the proxy package itself adds per
// request, apart from opening the session.
func BenchmarkProxyVsBare(b *testing.B) {
	body := `{"id":42,"status":"ok","items":[1,2,3],"note":"small response"}` + "\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	defer up.Close()
	transport := NewTransport()
	defer transport.CloseIdleConnections()
	upURL := mustURL(b, up.URL+"/v1")

	// The sizes a real login gives: a ~1.7 kB sealed session and an RS256
	// access token of ~900 bytes.
	session := strings.Repeat("s", 1650)
	token := strings.Repeat("t", 900)
	cookieHeader := "__Host-bff-session=" + session + "; theme=dark"

	run := func(b *testing.B, h http.Handler, path string) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("X-Csrf", "1")
		req.Header.Set("Cookie", cookieHeader)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Body.Len() != len(body) {
				b.Fatalf("status %d, %d-byte body", rec.Code, rec.Body.Len())
			}
		}
	}

	b.Run("bare", func(b *testing.B) {
		run(b, &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(upURL)
				pr.SetXForwarded()
			},
			Transport:  transport,
			BufferPool: &benchBuffers{},
		}, "/orders?page=2")
	})
	b.Run("proxy", func(b *testing.B) {
		p, err := New(Config{
			Routes:       []Route{{Prefix: "/api/", Upstream: upURL}},
			Tokens:       &testTokens{token: token},
			OwnsCookie:   ownsCookie,
			PublicOrigin: testOrigin,
			Transport:    transport,
		})
		if err != nil {
			b.Fatal(err)
		}
		run(b, p, "/api/orders?page=2")
	})
}

type benchBuffers struct{ pool sync.Pool }

func (p *benchBuffers) Get() []byte {
	if buf, ok := p.pool.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (p *benchBuffers) Put(buf []byte) { p.pool.Put(&buf) }
