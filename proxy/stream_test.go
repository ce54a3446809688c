package proxy

import (
	"bff/internal/bfftest/kit"
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestServerSentEvents(t *testing.T) {
	const events = 3
	// wrote[i] is closed just before the upstream writes event i.
	var wrote [events]chan struct{}
	for i := range wrote {
		wrote[i] = make(chan struct{})
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range events {
			if i > 0 {
				select {
				case <-time.After(200 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
			close(wrote[i])
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			if err := rc.Flush(); err != nil {
				t.Error(err)
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, routes, up.URL, nil)

	req := f.request(t, http.MethodGet, "/api/events", http.Header{"X-Csrf": {"1"}, "Accept": {"text/event-stream"}})
	res, err := f.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("got %d %q, want 200 text/event-stream", res.StatusCode, ct)
	}
	br := bufio.NewReader(res.Body)
	for i := range events {
		ev := readEvent(t, br)
		if want := fmt.Sprintf("id: %d\ndata: event %d\n", i, i); ev != want {
			t.Fatalf("event %d = %q, want %q", i, ev, want)
		}
		if i+1 < events {
			select {
			case <-wrote[i+1]:
				t.Fatalf("event %d reached the client only after the upstream wrote event %d: the proxy buffers", i, i+1)
			default:
			}
		}
	}
}

// readEvent reads one server-sent event, up to its blank line.
func readEvent(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var ev strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading event: %v (so far %q)", err, ev.String())
		}
		if line == "\n" {
			return ev.String()
		}
		ev.WriteString(line)
	}
}

// wsUpstream echoes WebSocket messages and reports each handshake request
// it sees (up to a few; it never blocks on reporting).
func wsUpstream(t *testing.T) (*httptest.Server, <-chan *http.Request) {
	t.Helper()
	seen := make(chan *http.Request, 16)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Clone(context.Background()):
		default:
		}
		w.Header().Add("Set-Cookie", "__Host-bff-session=FORGED")
		w.Header().Add("Set-Cookie", "ws=1")
		// The browser's Origin is the BFF's, not the upstream's own host.
		kit.EchoWebSocket(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"app.example.test"}})
	}))
	t.Cleanup(up.Close)
	return up, seen
}

func TestWebSocket(t *testing.T) {
	up, seen := wsUpstream(t)
	f := newFixture(t, routes, up.URL, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	c, res, err := websocket.Dial(ctx, strings.Replace(f.front.URL, "http", "ws", 1)+"/api/ws?room=1", &websocket.DialOptions{
		HTTPHeader: http.Header{
			"Origin":        {testOrigin},
			"Cookie":        {"__Host-bff-session=SEALED; theme=dark"},
			"Authorization": {"Bearer from-the-browser"},
		},
	})
	if err != nil {
		t.Fatalf("dial through the proxy: %v", err)
	}
	defer c.CloseNow()
	if got := res.Header["Set-Cookie"]; !slices.Equal(got, []string{"ws=1"}) {
		t.Errorf("101 carried Set-Cookie %q, want only ws=1", got)
	}

	r := <-seen
	for _, c := range []struct{ name, got, want string }{
		{"path", r.URL.RequestURI(), "/v1/ws?room=1"},
		{"Authorization", r.Header.Get("Authorization"), "Bearer " + testToken},
		{"Cookie", r.Header.Get("Cookie"), "theme=dark"},
		{"Upgrade", r.Header.Get("Upgrade"), "websocket"},
	} {
		if c.got != c.want {
			t.Errorf("upstream handshake %s = %q, want %q", c.name, c.got, c.want)
		}
	}

	for _, msg := range []string{"hello", "again"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Errorf("echo = %q, want %q", got, msg)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
}

func TestWebSocketOrigin(t *testing.T) {
	up, seen := wsUpstream(t)
	f := newFixture(t, routes, up.URL, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for name, origin := range map[string][]string{
		"missing":     nil,
		"cross-site":  {"https://evil.test"},
		"other port":  {testOrigin + ":8443"},
		"other proto": {"http://app.example.test"},
		"with path":   {testOrigin + "/"},
		"null":        {"null"},
		"two":         {testOrigin, testOrigin},
	} {
		t.Run(name, func(t *testing.T) {
			c, res, err := websocket.Dial(ctx, strings.Replace(f.front.URL, "http", "ws", 1)+"/api/ws", &websocket.DialOptions{
				// X-CSRF does not stand in for Origin on a handshake.
				HTTPHeader: http.Header{"Origin": origin, "X-Csrf": {"1"}},
			})
			if err == nil {
				c.CloseNow()
				t.Fatal("dial succeeded")
			}
			if res == nil || res.StatusCode != http.StatusForbidden {
				t.Fatalf("dial: %v, response %v; want 403", err, res)
			}
		})
	}
	if len(seen) != 0 {
		t.Errorf("upstream saw %d handshakes", len(seen))
	}
	if n := f.tokens.calls.Load(); n != 0 {
		t.Errorf("Tokens called %d times", n)
	}
}
