package handlerpanic

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// TestUnderServer: ReverseProxy reports an upstream body cut short by
// panicking with http.ErrAbortHandler under UnderServer, and ends the
// response as if it were whole without it.
func TestUnderServer(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write(make([]byte, 500))
		w.(http.Flusher).Flush()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = nil
	serve := func(ctx context.Context) (v any) {
		defer func() { v = recover() }()
		proxy.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
		return nil
	}
	if v := serve(UnderServer(context.Background())); v != http.ErrAbortHandler {
		t.Errorf("under the stand-in: recovered %v, want http.ErrAbortHandler", v)
	}
	if v := serve(context.Background()); v != nil {
		t.Errorf("without it: recovered %v; the test's premise is gone", v)
	}
}

// TestAnswer: a cut body is a 502 and not logged; any other panic is a 500
// and logged with its stack.
func TestAnswer(t *testing.T) {
	for _, c := range []struct {
		v      any
		status int
		logged bool
	}{
		{http.ErrAbortHandler, http.StatusBadGateway, false},
		{errors.New("boom"), http.StatusInternalServerError, true},
		{"boom", http.StatusInternalServerError, true},
	} {
		var logs bytes.Buffer
		w := httptest.NewRecorder()
		Answer(slog.New(slog.NewTextHandler(&logs, nil)), c.v, w)
		if w.Code != c.status || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%v: %d %q", c.v, w.Code, w.Header().Get("Content-Type"))
		}
		if got := strings.Contains(logs.String(), "panic serving a request"); got != c.logged {
			t.Errorf("%v: logged %v, want %v", c.v, got, c.logged)
		}
	}
}
