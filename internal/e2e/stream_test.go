package e2e

import (
	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// streamUpstream serves /v1/events as server-sent events, writing the next
// event only when the test says so, and /v1/ws as a WebSocket echo that
// reports the Authorization header of its handshake.
type streamUpstream struct {
	next chan struct{}
	auth chan string
}

func (u *streamUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/events":
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				select {
				case <-u.next:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "data: event %d\n\n", i)
			http.NewResponseController(w).Flush()
		}
	case "/v1/ws":
		u.auth <- r.Header.Get("Authorization")
		kit.EchoWebSocket(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	default:
		http.NotFound(w, r)
	}
}

// TestStreamsThroughTheWholeStack checks that streaming survives every
// layer bff wraps around the proxy (access log, CORS, security headers):
// each event arrives before the upstream writes the next, and a WebSocket
// echoes with the token attached to its handshake.
func TestStreamsThroughTheWholeStack(t *testing.T) {
	up := &streamUpstream{next: make(chan struct{}), auth: make(chan string, 1)}
	s := bfftest.NewStack(t, bfftest.StackOptions{Upstream: up})
	s.Login()

	req, _ := http.NewRequest(http.MethodGet, s.Front.URL+"/api/events", nil)
	req.Header.Set("X-CSRF", "1")
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		if i > 0 {
			up.next <- struct{}{} // the upstream writes event i only now
		}
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: event %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		br.ReadString('\n')
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(s.Front.URL, "http") + "/api/ws"
	h := http.Header{"Origin": {s.Public.String()}}
	for _, c := range s.Client.Jar.Cookies(s.Public) {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	c, _, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("websocket through bff: %v", err)
	}
	defer c.CloseNow()
	if auth := <-up.auth; !strings.HasPrefix(auth, "Bearer ") {
		t.Errorf("handshake reached the upstream without the token: %.10q", auth)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
		t.Fatalf("echo: %q %v", msg, err)
	}
	c.Close(websocket.StatusNormalClosure, "")

	// The same handshake from another origin is refused.
	h.Set("Origin", "http://evil.example")
	if _, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: h}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin handshake: %v (status %v), want 403", err, resp)
	}
}
