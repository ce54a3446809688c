package workerd

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// bigBody is larger than the Worker buffers before it streams a response.
var bigBody = func() []byte {
	b := make([]byte, 300<<10)
	rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}()

// bridgeUpstream is the API behind the Worker in TestWorkerBridge. Its
// event stream sends one event, then waits for next (the test's word that
// the first arrived) before the second.
func bridgeUpstream(next <-chan struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
			io.WriteString(w, "data: two\n\n")
		case <-time.After(5 * time.Second):
			// The first event never reached the browser on its own.
			io.WriteString(w, "data: late\n\n")
		}
	})
	mux.HandleFunc("/v1/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(bigBody)
	})
	mux.HandleFunc("/v1/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	})
	mux.HandleFunc("/v1/empty", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/v1/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v1/elsewhere", http.StatusFound)
	})
	return mux
}

// TestWorkerBridge checks what the Worker's bridge between a fetch event
// and net/http carries: a binding that is JSON rather than text, and,
// through the proxy, an event stream that arrives event by event, a large
// body and a request body byte for byte, a body-less status without one,
// an upstream's redirect that reaches the browser instead of being
// followed, paths with dot segments refused as by the binary, and a
// WebSocket upgrade refused as unavailable.
func TestWorkerBridge(t *testing.T) {
	next := make(chan struct{})
	// A JSON binding, as wrangler makes of `BFF_EXPOSE_TOKEN = true`.
	w := startRig(t, RigOptions{Upstream: bridgeUpstream(next), JSON: map[string]string{"BFF_EXPOSE_TOKEN": "true"}})
	client, _ := bfftest.NewClient(t)
	// The cold start: the first request after workerd starts (Go starting,
	// the bindings, discovery), timed for docs/edge.md.
	cpu, _ := w.CPU()
	start := time.Now()
	if r := bfftest.Get(t, client, w.URL, "/auth/login"); r.StatusCode != http.StatusFound {
		t.Fatalf("first login: %d %s", r.StatusCode, r.Text)
	}
	took := time.Since(start)
	if used, ok := cpu.Since(w.Workerd, 1); ok {
		t.Logf("cold start: the first request (a login) answered in %v; workerd CPU %v", took.Round(time.Millisecond), used)
	}
	w.SignIn(t, client)
	api := []string{"X-CSRF", "1"}

	t.Run("boolean binding", func(t *testing.T) {
		r := bfftest.Get(t, client, w.URL, "/auth/token", api...)
		if r.StatusCode != http.StatusOK || !strings.Contains(r.Text, `"access_token"`) {
			t.Errorf("/auth/token with BFF_EXPOSE_TOKEN bound to JSON true: %d, want 200 and a token", r.StatusCode)
		}
	})

	t.Run("event stream", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, w.URL+"/api/events", nil)
		req.Header.Set("X-CSRF", "1")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := bufio.NewReader(resp.Body)
		first, err := events.ReadString('\n')
		if err != nil || first != "data: one\n" || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("first event %q, %v (Content-Type %q)", first, err, resp.Header.Get("Content-Type"))
		}
		// The upstream holds the second event until the first has arrived.
		close(next)
		rest, err := io.ReadAll(events)
		if err != nil || string(rest) != "\ndata: two\n\n" {
			t.Errorf("rest of the stream %q, %v", rest, err)
		}
	})

	t.Run("large body", func(t *testing.T) {
		r := bfftest.Get(t, client, w.URL, "/api/big", api...)
		if r.StatusCode != http.StatusOK || r.Text != string(bigBody) {
			t.Errorf("%d, %d bytes; want 200 and the upstream's %d bytes", r.StatusCode, len(r.Text), len(bigBody))
		}
	})

	t.Run("request body", func(t *testing.T) {
		body := bigBody[:70<<10]
		w.Upstream.Drain()
		r := bfftest.Do(t, client, http.MethodPost, w.URL, "/api/echo", bytes.NewReader(body), api...)
		if r.StatusCode != http.StatusOK || r.Text != string(body) {
			t.Errorf("%d, %d bytes back; want 200 and the %d bytes sent", r.StatusCode, len(r.Text), len(body))
		}
		if saw := w.Upstream.Last(t); saw.Method != http.MethodPost || saw.Header.Get("Content-Length") != "71680" {
			t.Errorf("upstream got %s with Content-Length %q", saw.Method, saw.Header.Get("Content-Length"))
		}
	})

	t.Run("no content", func(t *testing.T) {
		r := bfftest.Get(t, client, w.URL, "/api/empty", api...)
		if r.StatusCode != http.StatusNoContent || r.Text != "" {
			t.Errorf("%d %q, want 204 and nothing", r.StatusCode, r.Text)
		}
		head := bfftest.Do(t, client, http.MethodHead, w.URL, "/api/big", nil, api...)
		if head.StatusCode != http.StatusOK || head.Text != "" {
			t.Errorf("HEAD: %d %q, want 200 and nothing", head.StatusCode, head.Text)
		}
	})

	t.Run("upstream redirect", func(t *testing.T) {
		w.Upstream.Drain()
		r := bfftest.Get(t, client, w.URL, "/api/moved", api...)
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/v1/elsewhere" {
			t.Errorf("%d to %q; want the upstream's 302 itself", r.StatusCode, r.Header.Get("Location"))
		}
		w.Upstream.Last(t)
		if !w.Upstream.Nothing() {
			t.Error("the redirect was followed")
		}
	})

	// The request's path reaches bff as the browser sent it, escapes and
	// all, so the proxy's own refusal applies, to a bare ".." too.
	t.Run("dot segments", func(t *testing.T) {
		w.Upstream.Drain()
		for target, want := range map[string]int{
			"/api/%2e%2e/secret":    http.StatusBadRequest,
			"/api/..;/secret":       http.StatusBadRequest,
			"/api/%2e%2e%3b/secret": http.StatusBadRequest,
			"/api/../secret":        http.StatusBadRequest,
		} {
			if r := bfftest.Get(t, client, w.URL, target, api...); r.StatusCode != want {
				t.Errorf("%s: %d, want %d", target, r.StatusCode, want)
			}
		}
		if saw, ok := w.Upstream.Take(); ok {
			t.Errorf("the upstream got %s", saw.Path)
		}
	})

	t.Run("websocket", func(t *testing.T) {
		r := bfftest.Get(t, client, w.URL, "/api/socket", "Connection", "Upgrade", "Upgrade", "websocket",
			"Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==", "Origin", w.URL)
		if r.StatusCode != http.StatusNotImplemented || !strings.Contains(r.Text, "WebSockets") {
			t.Errorf("%d %s; want 501", r.StatusCode, r.Text)
		}
	})
}
