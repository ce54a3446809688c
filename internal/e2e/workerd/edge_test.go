package workerd

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// cutUpstream promises a body by its Content-Length and closes the
// connection halfway through it: a short one, which the Worker holds
// before it answers, and one past what it holds, which streams.
func cutUpstream() http.Handler {
	mux := http.NewServeMux()
	for path, n := range map[string]int{"/v1/cut-short": 1000, "/v1/cut-long": len(bigBody)} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.Write(bigBody[:n/2])
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		})
	}
	return mux
}

// TestWorkerEdges covers what a request or an upstream can do wrong at the
// Worker's bridge: an upstream body cut short reaches the browser as a
// failure, never as a shorter body that looks complete; a URL Go cannot
// parse is a 400 that neither the answer nor the log repeats; a request
// body over 10 MiB is a 413, whether it declares its length or not.
func TestWorkerEdges(t *testing.T) {
	w := startRig(t, RigOptions{Upstream: cutUpstream()})
	client, _ := bfftest.NewClient(t)
	w.SignIn(t, client)
	api := []string{"X-CSRF", "1"}
	addr := strings.TrimPrefix(w.URL, "http://")

	t.Run("upstream cut short", func(t *testing.T) {
		r := bfftest.Get(t, client, w.URL, "/api/cut-short", api...)
		if r.StatusCode != http.StatusBadGateway || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%d %q, %d bytes; want a 502 problem", r.StatusCode, r.Header.Get("Content-Type"), len(r.Text))
		}
		long, err := bfftest.SendTo(t, addr, addr, bfftest.RawRequest{Target: "/api/cut-long", Headers: []string{"X-CSRF: 1", "Cookie: " + cookieHeader(client.Jar.Cookies(w.Public))}})
		if err == nil {
			t.Errorf("a streamed body cut short arrived whole: %d, %d of the %d bytes promised", long.StatusCode, len(long.Text), len(bigBody))
		}
	})

	t.Run("URL Go cannot parse", func(t *testing.T) {
		r, err := bfftest.SendTo(t, addr, addr, bfftest.RawRequest{Target: "/api/%zz?code=SECRET&state=S"})
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode != http.StatusBadRequest || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%d %q %s; want a 400 problem", r.StatusCode, r.Header.Get("Content-Type"), r.Text)
		}
		if strings.Contains(r.Dump(), "SECRET") || strings.Contains(w.Logs(), "SECRET") {
			t.Errorf("the query reached the answer or the log:\n%s\n%s", r.Dump(), w.Logs())
		}
	})

	t.Run("body too large", func(t *testing.T) {
		over := bytes.Repeat([]byte("x"), 10<<20+1)
		// The Worker answers a declared length over the bound without
		// reading the body, and workerd then closes the connection: a
		// client still writing may meet a broken pipe before it reads the
		// 413. A browser reads the answer anyway; Go's client does when it
		// waits for "100 Continue" before it sends the body.
		waiting := *client
		transport := client.Transport.(*http.Transport).Clone()
		transport.ExpectContinueTimeout = 10 * time.Second
		t.Cleanup(transport.CloseIdleConnections)
		waiting.Transport = transport
		declared := bfftest.Do(t, &waiting, http.MethodPost, w.URL, "/api/upload", bytes.NewReader(over), append(api, "Expect", "100-continue")...)
		// No length: the client sends it in chunks.
		streamed := bfftest.Do(t, client, http.MethodPost, w.URL, "/api/upload", io.MultiReader(bytes.NewReader(over)), api...)
		for name, r := range map[string]bfftest.Response{"with Content-Length": declared, "chunked": streamed} {
			if r.StatusCode != http.StatusRequestEntityTooLarge || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %d %s; want a 413 problem", name, r.StatusCode, r.Text)
			}
		}
		if r := bfftest.Do(t, client, http.MethodPost, w.URL, "/api/upload", io.MultiReader(bytes.NewReader(over[:1<<20])), api...); r.StatusCode == http.StatusRequestEntityTooLarge {
			t.Errorf("1 MiB in chunks: %d", r.StatusCode)
		}
	})
}
