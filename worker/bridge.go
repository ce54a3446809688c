//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"syscall/js"

	"bff/internal/handlerpanic"
)

// newRequest turns a fetch event's Request, whose body worker.mjs has read
// into body (a Uint8Array, or null), into the server-side request
// net/http would have parsed off the wire.
func newRequest(request, body js.Value) (*http.Request, error) {
	// url's errors quote the URL, and with it the query: none is kept.
	full, err := url.Parse(request.Get("url").String())
	if err != nil {
		return nil, errors.New("request url: not one Go can parse")
	}
	var rd io.Reader = http.NoBody
	var n int
	if body.Type() == js.TypeObject {
		n = body.Get("byteLength").Int()
		b := make([]byte, n)
		js.CopyBytesToGo(b, body)
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(context.Background(), request.Get("method").String(), full.String(), rd)
	if err != nil {
		return nil, errors.New("request: not one net/http can make")
	}
	// A server sees the target as sent, not the absolute URL.
	r.RequestURI = full.RequestURI()
	if r.URL, err = url.ParseRequestURI(r.RequestURI); err != nil {
		return nil, errors.New("request target: not one Go can parse")
	}
	r.Host = full.Host
	r.ContentLength = int64(n)
	if n == 0 {
		r.Body, r.GetBody = http.NoBody, nil
	}
	it := request.Get("headers").Call("entries")
	for {
		next := it.Call("next")
		if next.Get("done").Bool() {
			break
		}
		pair := next.Get("value")
		r.Header.Add(pair.Index(0).String(), pair.Index(1).String())
	}
	r.Header.Del("Host")
	r.RemoteAddr = clientAddr(r.Header.Get("CF-Connecting-IP"))
	return r, nil
}

// clientAddr is the browser's address as Cloudflare's edge reports it in
// CF-Connecting-IP, which it sets on every request, replacing any a client
// sent. A Worker sees no TCP peer; without the header there is none.
func clientAddr(ip string) string {
	if net.ParseIP(ip) == nil {
		return ""
	}
	return net.JoinHostPort(ip, "0")
}

// responseWriter answers a fetch event. Small answers are buffered and
// become one Response with the whole body when the handler returns; an
// answer that flushes (an event stream) or outgrows streamAfter becomes a
// Response whose body is a stream the handler goes on writing, each write
// waiting until the stream has taken the last.
type responseWriter struct {
	resolve js.Value // the fetch handler's promise
	enter   func()   // into the request's JavaScript context
	head    bool     // a HEAD request: no body goes out
	header  http.Header
	status  int // 0 until the handler sets it
	buf     bytes.Buffer
	sent    bool     // the Response is out
	stream  js.Value // the body's writer once streaming
	err     error    // the stream's sticky error
	aborted bool     // the stream was errored, not closed
}

// streamAfter is how much of a body is buffered before it streams.
const streamAfter = 64 << 10

func newResponseWriter(resolve js.Value, head bool, enter func()) *responseWriter {
	return &responseWriter{resolve: resolve, enter: enter, head: head, header: make(http.Header)}
}

func (w *responseWriter) Header() http.Header { return w.header }

// recovered answers a handler's panic as net/http's server would. Before
// the Response is out, what was written is dropped for a problem; once it
// streams, the stream is errored, so that the browser sees a failed
// response rather than a short one that looks complete.
func (w *responseWriter) recovered(v any) {
	if !w.sent {
		w.header, w.status = make(http.Header), 0
		w.buf.Reset()
		handlerpanic.Answer(slog.Default(), v, w)
		return
	}
	handlerpanic.Log(slog.Default(), v)
	w.aborted = true
	if w.stream.Truthy() && w.err == nil {
		w.enter()
		_, _ = await(w.stream.Call("abort", js.Global().Get("Error").New("bff: the response was cut short")))
	}
}

func (w *responseWriter) WriteHeader(code int) {
	// A Worker cannot send an informational response: the final one follows.
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	switch {
	case !w.hasBody():
		return len(p), nil
	case w.err != nil:
		return 0, w.err
	case w.sent:
		return w.write(p)
	}
	w.buf.Write(p)
	if w.buf.Len() > streamAfter {
		w.Flush()
	}
	return len(p), w.err
}

// Flush sends the Response now, with a streaming body.
func (w *responseWriter) Flush() {
	w.WriteHeader(http.StatusOK)
	if w.sent {
		return
	}
	w.enter()
	if !w.hasBody() {
		w.send(js.Null())
		return
	}
	ts := js.Global().Get("TransformStream").New()
	w.stream = ts.Get("writable").Call("getWriter")
	w.send(ts.Get("readable"))
	if w.buf.Len() > 0 {
		_, _ = w.write(w.buf.Bytes())
		w.buf.Reset()
	}
}

// finish completes the answer once the handler has returned.
func (w *responseWriter) finish() {
	w.WriteHeader(http.StatusOK)
	switch {
	case !w.sent:
		w.enter()
		body := js.Null()
		if w.hasBody() && w.buf.Len() > 0 {
			body = bytesToJS(w.buf.Bytes())
		}
		w.send(body)
	case w.stream.Truthy() && w.err == nil && !w.aborted:
		w.enter()
		_, _ = await(w.stream.Call("close"))
	}
}

// hasBody reports whether the answer may carry a body at all; the
// Response constructor refuses one for these statuses.
func (w *responseWriter) hasBody() bool {
	switch w.status {
	case http.StatusNoContent, http.StatusResetContent, http.StatusNotModified:
		return false
	}
	return !w.head
}

func (w *responseWriter) write(p []byte) (int, error) {
	w.enter()
	if _, err := await(w.stream.Call("write", bytesToJS(p))); err != nil {
		w.err = fmt.Errorf("response stream: %w", err)
		return 0, w.err
	}
	return len(p), nil
}

// send resolves the fetch event with a Response of body and the headers,
// each value appended on its own, so that every Set-Cookie stays a line
// of its own. The caller has entered the request's context.
func (w *responseWriter) send(body js.Value) {
	w.sent = true
	if _, ok := w.header["Content-Type"]; !ok && w.buf.Len() > 0 {
		w.header.Set("Content-Type", http.DetectContentType(w.buf.Bytes()))
	}
	headers := js.Global().Get("Headers").New()
	for name, values := range w.header {
		// The runtime sets the length from the body it is given.
		if name == "Content-Length" {
			continue
		}
		for _, v := range values {
			if err := try(func() { headers.Call("append", name, v) }); err != nil {
				slog.Warn("response header dropped: the runtime refused its value", "header", name)
			}
		}
	}
	init := js.Global().Get("Object").New()
	init.Set("status", w.status)
	init.Set("headers", headers)
	var resp js.Value
	if err := try(func() { resp = js.Global().Get("Response").New(body, init) }); err != nil {
		slog.Error("the runtime refused the response", "status", w.status, "err", err.Error())
		init.Set("status", http.StatusBadGateway)
		resp = js.Global().Get("Response").New(js.Null(), init)
	}
	w.resolve.Invoke(resp)
}

func bytesToJS(p []byte) js.Value {
	u8 := js.Global().Get("Uint8Array").New(len(p))
	js.CopyBytesToJS(u8, p)
	return u8
}

// await waits for a JavaScript promise. Only a goroutine that is not
// running a callback from JavaScript may wait.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	done := make(chan result, 1)
	arg := func(args []js.Value) js.Value {
		if len(args) == 0 {
			return js.Undefined()
		}
		return args[0]
	}
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{v: arg(args)}
		return nil
	})
	defer ok.Release()
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: errors.New(js.Global().Call("String", arg(args)).String())}
		return nil
	})
	defer fail.Release()
	p.Call("then", ok, fail)
	r := <-done
	return r.v, r.err
}

// try runs f, turning a JavaScript exception it throws into an error.
func try(f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			jsErr, ok := v.(js.Error)
			if !ok {
				panic(v)
			}
			err = errors.New(jsErr.Error())
		}
	}()
	f()
	return nil
}
