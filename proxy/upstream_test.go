package proxy

import (
	"bff/internal/bfftest/kit"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestResponseSetCookie(t *testing.T) {
	sent := []string{
		"theme=dark; Path=/",
		"__Host-bff-session=FORGED; Path=/; Secure; HttpOnly",
		"__Host-bff-session.1=X; Path=/",
		"__Host-bff-login-abc=Y",
		" __Host-bff-session =Z",
		"=__Host-bff-session=NAMELESS",
		"nameless-value",
		"cart=3; Max-Age=60",
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Set-Cookie"] = sent
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte("made"))
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, routes, up.URL, nil)
	res, body := f.get(t, "/api/x", nil)
	if res.StatusCode != http.StatusCreated || string(body) != "made" {
		t.Errorf("got %d %q, want the upstream's 201 and body", res.StatusCode, body)
	}
	want := []string{"theme=dark; Path=/", "cart=3; Max-Age=60"}
	if got := res.Header["Set-Cookie"]; !slices.Equal(got, want) {
		t.Errorf("browser got Set-Cookie %q, want %q", got, want)
	}
	if !strings.Contains(f.logs.String(), "dropped upstream Set-Cookie") {
		t.Error("dropping a Set-Cookie was not logged")
	}
	if strings.Contains(f.logs.String(), "FORGED") {
		t.Error("the log holds a cookie value")
	}
}

func TestResponseOnlyBffSetCookie(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "__Host-bff-session=FORGED")
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, routes, up.URL, nil)
	res, _ := f.get(t, "/api/x", nil)
	if got, ok := res.Header["Set-Cookie"]; ok {
		t.Errorf("browser got Set-Cookie %q, want none", got)
	}
}

func TestUpstreamDown(t *testing.T) {
	f := newFixture(t, "/api/=UP/v1", "http://"+kit.ClosedPort(t), nil)
	res, body := f.get(t, "/api/x", http.Header{"Authorization": {"Bearer " + testToken}})
	d := wantProblem(t, res, body, http.StatusBadGateway)
	if d.Title != "Bad gateway" {
		t.Errorf("title %q", d.Title)
	}
	if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "refused") {
		t.Errorf("body reveals the cause: %s", body)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "upstream failed") || !strings.Contains(logs, "refused") {
		t.Errorf("cause not logged:\n%s", logs)
	}
}

func TestUpstreamHangs(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(up.Close)
	t.Cleanup(func() { close(release) })
	const timeout = 100 * time.Millisecond
	f := newFixture(t, routes, up.URL, func(c *Config) {
		tr := NewTransport()
		tr.ResponseHeaderTimeout = timeout
		c.Transport = tr
	})
	start := time.Now()
	res, body := f.get(t, "/api/x", nil)
	elapsed := time.Since(start)
	wantProblem(t, res, body, http.StatusBadGateway)
	if elapsed < timeout || elapsed > 20*timeout {
		t.Errorf("502 after %v, want soon after %v", elapsed, timeout)
	}
	if !strings.Contains(f.logs.String(), "timeout awaiting response headers") {
		t.Errorf("cause not logged:\n%s", f.logs)
	}
}

func TestUpstreamResets(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		// A zero linger makes Close send RST instead of FIN.
		_ = conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, routes, up.URL, nil)
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		res, body := f.do(t, m, "/api/x", http.Header{"X-Csrf": {"1"}})
		wantProblem(t, res, body, http.StatusBadGateway)
	}
}

func TestClientGone(t *testing.T) {
	up, _ := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/api/x", nil)
	req.Header.Set("X-Csrf", "1")
	rec := httptest.NewRecorder()
	f.proxy.ServeHTTP(rec, req)
	if rec.Code != statusClientClosed {
		t.Errorf("status %d, want %d", rec.Code, statusClientClosed)
	}
	if !strings.Contains(f.logs.String(), `"level":"DEBUG","msg":"proxy: client went away"`) {
		t.Errorf("client going away not logged at debug:\n%s", f.logs)
	}
	if strings.Contains(f.logs.String(), "upstream failed") {
		t.Errorf("client going away logged as an upstream failure:\n%s", f.logs)
	}
}

// bff alone decides which origins may read its answers: an upstream's CORS
// headers never reach the browser.
func TestResponseCORSHeadersDropped(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "https://evil.example")
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Access-Control-Expose-Headers", "*")
		w.Header().Set("X-Upstream", "kept")
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, routes, up.URL, nil)
	res, _ := f.get(t, "/api/x", nil)
	for name := range res.Header {
		if strings.HasPrefix(name, "Access-Control-") {
			t.Errorf("upstream header %s reached the browser", name)
		}
	}
	if res.Header.Get("X-Upstream") != "kept" {
		t.Error("other upstream headers were dropped too")
	}
}
