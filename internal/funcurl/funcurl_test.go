package funcurl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"bff/internal/bfftest/kit"
)

// invoke runs one invocation of h with payload through Handler, as the
// runtime API client would, and returns its result.
func invoke(t *testing.T, h http.Handler, buffered bool, payload []byte) (any, *kit.Buffer) {
	t.Helper()
	logs := &kit.Buffer{}
	res, err := Handler(h, buffered, slog.New(slog.NewJSONHandler(logs, nil)))(context.Background(), payload)
	if err != nil {
		t.Fatalf("invocation failed: %v", err)
	}
	return res, logs
}

// streamed reads a streamed result whole: its prelude and body, and the
// error that ended the body, if any.
func streamed(t *testing.T, res any) (prelude streamPrelude, body string, err error) {
	t.Helper()
	s, ok := res.(*events.LambdaFunctionURLStreamingResponse)
	if !ok {
		t.Fatalf("result %T, want a stream", res)
	}
	b, err := io.ReadAll(s)
	head, rest, ok := bytes.Cut(b, make([]byte, 8))
	if !ok {
		t.Fatalf("no prelude in %q", b)
	}
	if jerr := json.Unmarshal(head, &prelude); jerr != nil {
		t.Fatalf("prelude %q: %v", head, jerr)
	}
	return prelude, string(rest), err
}

type streamPrelude struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Cookies    []string          `json:"cookies"`
}

// TestStreamFlushesAsWritten: each event a handler flushes can be read
// from the result before the handler writes the next.
func TestStreamFlushesAsWritten(t *testing.T) {
	next := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		http.NewResponseController(w).Flush()
		for i := range 3 {
			<-next
			fmt.Fprintf(w, "data: %d\n\n", i)
			http.NewResponseController(w).Flush()
		}
	})
	res, _ := invoke(t, h, false, event(t))
	br := bufio.NewReader(res.(io.Reader))
	head, err := br.ReadString(0)
	if err != nil || !strings.Contains(head, `"cookies":["a=1","b=2"]`) || !strings.Contains(head, `"statusCode":200`) {
		t.Fatalf("prelude %q %v", head, err)
	}
	if _, err := br.Discard(7); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		next <- struct{}{}
		line, err := br.ReadString('\n')
		if want := fmt.Sprintf("data: %d\n", i); line != want || err != nil {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		br.ReadString('\n')
	}
	if rest, err := io.ReadAll(br); len(rest) != 0 || err != nil {
		t.Errorf("after the events: %q %v", rest, err)
	}
}

// TestInterimResponses: a function URL has no 1xx responses; the final
// status is the one the result carries.
func TestInterimResponses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "made")
	})
	for _, buffered := range []bool{false, true} {
		res, _ := invoke(t, h, buffered, event(t))
		status, body := outcome(t, res)
		if status != http.StatusCreated || body != "made" {
			t.Errorf("buffered %v: %d %q, want 201 made", buffered, status, body)
		}
	}
}

// outcome is the status and body of either kind of result.
func outcome(t *testing.T, res any) (int, string) {
	t.Helper()
	if b, ok := res.(*events.LambdaFunctionURLResponse); ok {
		body := b.Body
		if b.IsBase64Encoded {
			raw, err := base64.StdEncoding.DecodeString(body)
			if err != nil {
				t.Fatal(err)
			}
			body = string(raw)
		}
		return b.StatusCode, body
	}
	p, body, err := streamed(t, res)
	if err != nil {
		t.Fatalf("stream ended with %v", err)
	}
	return p.StatusCode, body
}

// TestPanics: a handler's panic is answered, never the process's end. It
// is a 500 problem, or 502 for http.ErrAbortHandler, while nothing was
// sent; once a stream's prelude went, the stream breaks off with an error,
// which the runtime API client reports as a failed invocation.
func TestPanics(t *testing.T) {
	boom := func(v any, after bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "__Host-bff-session", Value: "half-made"})
			if after {
				io.WriteString(w, "partial")
			}
			panic(v)
		})
	}
	for _, c := range []struct {
		name   string
		v      any
		status int
		logged bool
	}{
		{"a bug", "index out of range", http.StatusInternalServerError, true},
		{"an aborted proxy", http.ErrAbortHandler, http.StatusBadGateway, false},
	} {
		for _, buffered := range []bool{false, true} {
			res, logs := invoke(t, boom(c.v, false), buffered, event(t))
			status, body := outcome(t, res)
			if status != c.status || !strings.Contains(body, `"status":`) {
				t.Errorf("%s, buffered %v: %d %q, want a %d problem", c.name, buffered, status, body, c.status)
			}
			if b, ok := res.(*events.LambdaFunctionURLResponse); ok && len(b.Cookies) > 0 {
				t.Errorf("%s: the error carries the handler's cookies %q", c.name, b.Cookies)
			}
			if got := strings.Contains(logs.String(), "panic serving"); got != c.logged {
				t.Errorf("%s: logged %v, want %v: %s", c.name, got, c.logged, logs)
			}
		}
		res, _ := invoke(t, boom(c.v, true), false, event(t))
		if p, body, err := streamed(t, res); p.StatusCode != http.StatusOK || body != "partial" || !errors.Is(err, errAborted) {
			t.Errorf("%s after the prelude: %d %q %v; want the stream cut with %v", c.name, p.StatusCode, body, err, errAborted)
		}
	}
	// Buffered, anything written before the panic is dropped for the error.
	res, _ := invoke(t, boom("late", true), true, event(t))
	if status, body := outcome(t, res); status != http.StatusInternalServerError || strings.Contains(body, "partial") {
		t.Errorf("buffered panic after writing: %d %q", status, body)
	}
}

// TestUpstreamBreaksOff: when an upstream's body breaks off, the proxy
// cuts the response instead of ending it as if complete.
func TestUpstreamBreaksOff(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "only part")
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}))
	defer up.Close()
	target, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = nil
	res, _ := invoke(t, rp, false, event(t))
	if p, _, err := streamed(t, res); p.StatusCode != http.StatusOK || !errors.Is(err, errAborted) {
		t.Errorf("stream: %d, ended with %v; want it cut with %v", p.StatusCode, err, errAborted)
	}
	res, _ = invoke(t, rp, true, event(t))
	if status, _ := outcome(t, res); status != http.StatusBadGateway {
		t.Errorf("buffered: %d, want 502", status)
	}
}

// TestBufferedResult: text stays text, anything else is base64, headers
// are one value each and every Set-Cookie is its own entry.
func TestBufferedResult(t *testing.T) {
	binary := []byte{0x89, 'P', 'N', 'G', 0, 1, 0xfe, 0xff}
	for _, c := range []struct {
		contentType string
		body        []byte
		base64      bool
	}{
		{"application/json", []byte(`{"a":"ü"}`), false},
		{"text/html; charset=utf-8", []byte("<p>hi</p>"), false},
		{"application/problem+json", []byte(`{}`), false},
		{"image/png", binary, true},
		{"application/octet-stream", []byte("plain ascii"), true},
		{"text/plain", []byte{'a', 0xff}, true}, // not UTF-8 after all
		{"", []byte("x"), true},
	} {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", c.contentType)
			w.Header().Add("Vary", "Accept")
			w.Header().Add("Vary", "Origin")
			http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
			http.SetCookie(w, &http.Cookie{Name: "b", Value: "2", MaxAge: -1})
			w.Write(c.body)
		})
		res, _ := invoke(t, h, true, event(t))
		b := res.(*events.LambdaFunctionURLResponse)
		status, body := outcome(t, res)
		if status != http.StatusOK || body != string(c.body) || b.IsBase64Encoded != c.base64 {
			t.Errorf("%q: %d, body equal %v, base64 %v; want 200, equal, base64 %v", c.contentType, status, body == string(c.body), b.IsBase64Encoded, c.base64)
		}
		if b.Headers["Vary"] != "Accept, Origin" || strings.Join(b.Cookies, "|") != "a=1|b=2; Max-Age=0" {
			t.Errorf("%q: headers %q, cookies %q", c.contentType, b.Headers, b.Cookies)
		}
	}
}

// TestBufferedTooLarge: a body Lambda would refuse to return is a 502
// problem instead of a failed invocation.
func TestBufferedTooLarge(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range MaxBuffered/len(chunk) + 1 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	res, _ := invoke(t, h, true, event(t))
	if status, body := outcome(t, res); status != http.StatusBadGateway || !strings.Contains(body, "too large") {
		t.Errorf("%d %.100q, want a 502 problem", status, body)
	}
}

// TestBadEventAnswered: an event that is not one is a 400 problem in
// either mode, and says nothing of what it held.
func TestBadEventAnswered(t *testing.T) {
	reached := false
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true })
	for _, buffered := range []bool{false, true} {
		res, logs := invoke(t, h, buffered, event(t, setHeader("x-secret", "s3cr3t\r\n")))
		if status, body := outcome(t, res); status != http.StatusBadRequest || !strings.Contains(body, `"status":400`) {
			t.Errorf("buffered %v: %d %q", buffered, status, body)
		}
		if strings.Contains(logs.String(), "s3cr3t") || !strings.Contains(logs.String(), "refused a function URL event") {
			t.Errorf("log: %s", logs)
		}
	}
	if reached {
		t.Error("the handler saw a refused event")
	}
}

// TestDeadline: the invocation's deadline is the request's, so a handler
// waiting on something slow gives up when Lambda would end it.
func TestDeadline(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		w.WriteHeader(http.StatusGatewayTimeout)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, err := Handler(h, false, slog.New(slog.DiscardHandler))(ctx, event(t))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := outcome(t, res); status != http.StatusGatewayTimeout {
		t.Errorf("%d, want the handler's 504 after the deadline", status)
	}
}
