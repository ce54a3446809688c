package bfftest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"bff/internal/server"
)

// Serve runs srv the way production does, with its own http.Server
// limits, on a fresh 127.0.0.1 port until the test ends, and returns the
// address. It does not wait for readiness; see [WaitReady].
func Serve(t testing.TB, srv *server.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ServeOn(t, srv, ln)
	return ln.Addr().String()
}

// ServeOn runs srv on ln until the test ends, and fails the test if it
// does not shut down cleanly.
func ServeOn(t testing.TB, srv *server.Server, ln net.Listener) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not shut down within 20 s")
		}
	})
}

// WaitReady polls addr's /readyz until it answers 200.
func WaitReady(addr string, within time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(within)
	for {
		resp, err := c.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not 200 within %v (last: %v)", within, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MustURL parses s, which must be a URL.
func MustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Eventually polls cond every 10 ms until it holds, and reports whether
// it did within the time given. The caller fails with what it waited for.
func Eventually(within time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(within); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
