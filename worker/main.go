//go:build js && wasm

// Command worker is bff as a Cloudflare Worker: the same server the binary
// runs, compiled to WebAssembly (GOOS=js GOARCH=wasm), serving the fetch
// events that the Worker's module, deploy/cloudflare/worker.mjs, hands it.
//
// Configuration comes from the Worker's environment bindings (vars and
// secrets) under the binary's variable names, read when the first request
// arrives, since a Worker sees its bindings only then. Every call bff makes
// goes out through the Fetch API. What cannot work in a Worker is not in
// this build: the listener and its limits, the metrics listener, signals,
// WebSocket forwarding, files (BFF_STATIC_DIR and the _FILE forms), Redis,
// and the demo. See docs/edge.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"bff/internal/config"
	"bff/internal/handlerpanic"
	"bff/internal/jsctx"
	"bff/internal/problem"
	"bff/internal/server"
)

// readyHook is the function worker.mjs leaves on globalThis for main to
// call with bff's fetch handler and the bound on request bodies.
const readyHook = "__bffReady"

func main() {
	w := &worker{}
	bff := js.Global().Get("Object").New()
	bff.Set("fetch", js.FuncOf(w.fetch))
	bff.Set("maxBody", maxBody)
	js.Global().Call(readyHook, bff)
	select {} // serve fetch events until the isolate goes away
}

// worker is one isolate's bff, built from the first request's bindings.
type worker struct {
	mu      sync.Mutex
	handler http.Handler
	srv     *server.Server
	tried   time.Time // the last discovery that failed
}

// fetch is called by worker.mjs, in the request's own JavaScript context,
// with one event object: the request, its body already read into a
// Uint8Array (or null, and tooLarge when it was over maxBody), the
// Worker's env, the resolve and reject of the promise the Worker answers
// with, bell, which makes the request's [call.enter], and done, for when
// Go has finished with the request. It must not block: a goroutine serves
// the request.
func (w *worker) fetch(_ js.Value, args []js.Value) any {
	ev := args[0]
	c := newCall(ev.Get("bell"))
	go func() {
		defer c.release(ev.Get("done"))
		var h http.Handler
		r, err := newRequest(ev.Get("request"), ev.Get("body"))
		switch {
		case ev.Get("tooLarge").Truthy():
			h, r = tooLarge, bare()
		case err != nil:
			// The request's URL is the browser's, query and all: only the
			// reason it was refused is logged.
			slog.Warn("refused a request", "err", err.Error())
			h, r = badRequest, bare()
		default:
			h = w.get(ev.Get("env"))
		}
		r = r.WithContext(jsctx.With(handlerpanic.UnderServer(r.Context()), c.enter))
		rw := newResponseWriter(ev.Get("resolve"), r.Method == http.MethodHead, c.enter)
		defer rw.finish()
		defer func() {
			if v := recover(); v != nil {
				rw.recovered(v)
			}
		}()
		h.ServeHTTP(rw, r)
	}()
	return nil
}

// maxBody bounds a request's body, which worker.mjs reads. An
// isolate has 128 MB, and a body is in it up to three times over (the
// chunks read, the array Go is handed, Go's copy) beside Go's own heap.
// 10 MiB is more than a function URL's 6 MB, so an upload that works
// under Lambda works here too.
const maxBody = 10 << 20

// bare stands for a request bff cannot read, to answer it with a problem.
func bare() *http.Request {
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}, Header: http.Header{}, Body: http.NoBody}
	return r.WithContext(context.Background())
}

var badRequest = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	problem.Write(w, http.StatusBadRequest, "Bad request", "The request's URL could not be read.")
})

var tooLarge = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	problem.Write(w, http.StatusRequestEntityTooLarge, "Content too large", "The request body is over 10 MiB.")
})

// get returns the isolate's handler, building bff from env on the first
// call, and loads the discovery document while it is not loaded: a Worker
// may run nothing between requests, so a request waits for it, for up to
// discoveryWait. After a failure the requests of the next discoveryWait
// do not wait (the IdP endpoints answer 503) rather than queue up behind
// attempt after attempt. A configuration that does not load answers every
// request with 500 and is logged, naming every bad variable.
func (w *worker) get(env js.Value) http.Handler {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.handler == nil {
		w.handler = w.build(env)
	}
	if w.srv != nil && !w.srv.Ready() && time.Since(w.tried) >= discoveryWait {
		ctx, cancel := context.WithTimeout(context.Background(), discoveryWait)
		if err := w.srv.Discover(ctx); err != nil { // Discover logs each failure
			w.tried = time.Now()
		}
		cancel()
	}
	return w.handler
}

// discoveryWait bounds how long a request waits for the discovery
// document, and how long after a failure requests do not wait at all.
const discoveryWait = 5 * time.Second

func (w *worker) build(env js.Value) http.Handler {
	getenv := bindings(env)
	cfg, err := config.Load(withoutFiles(getenv))
	err = errors.Join(err, unavailable(getenv))
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stdout, nil)).Error("bff is not configured", "err", err.Error())
		return unconfigured
	}
	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	slog.SetDefault(log)
	srv, err := server.New(cfg, log, server.Options{})
	if err != nil {
		log.Error("bff cannot start", "err", err.Error())
		return unconfigured
	}
	w.srv = srv
	return srv
}

// unavailable refuses the settings that cannot work in a Worker, which has
// no files, no listener of its own and no sockets for Go, rather than leave
// them unheeded: BFF_STATIC_DIR, BFF_METRICS_LISTEN, BFF_REDIS_URL,
// tracing turned on, and the _FILE form of each secret.
// BFF_LISTEN and PORT mean nothing here and are ignored.
func unavailable(getenv func(string) string) error {
	var errs []error
	if getenv("BFF_STATIC_DIR") != "" {
		errs = append(errs, errors.New("BFF_STATIC_DIR: a Worker has no files; serve the SPA beside it (docs/edge.md)"))
	}
	if getenv("BFF_METRICS_LISTEN") != "" {
		errs = append(errs, errors.New("BFF_METRICS_LISTEN: a Worker has no listener for Prometheus to scrape"))
	}
	if getenv("BFF_REDIS_URL") != "" {
		errs = append(errs, errors.New("BFF_REDIS_URL: a Worker cannot reach Redis (docs/edge.md)"))
	}
	// Tracing is on or off as the binary decides it, OTEL_SDK_DISABLED
	// and OTEL_TRACES_EXPORTER=none included; the error names what set it.
	if config.TracingOf(getenv).TracesURL != "" {
		var set []string
		for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_TRACES_EXPORTER"} {
			if getenv(name) != "" {
				set = append(set, name)
			}
		}
		errs = append(errs, fmt.Errorf("%s: a Worker cannot export traces, which leave after their request (docs/edge.md)", strings.Join(set, ", ")))
	}
	for _, v := range config.Variables() {
		if v.Secret && getenv(v.Name+"_FILE") != "" {
			errs = append(errs, fmt.Errorf("%s_FILE: a Worker has no files; make %s a Worker secret", v.Name, v.Name))
		}
	}
	return errors.Join(errs...)
}

// withoutFiles is getenv without the _FILE form of any secret, which
// unavailable reports: config.Load would report it again, as a file it
// cannot read.
func withoutFiles(getenv func(string) string) func(string) string {
	files := map[string]bool{}
	for _, v := range config.Variables() {
		if v.Secret {
			files[v.Name+"_FILE"] = true
		}
	}
	return func(name string) string {
		if files[name] {
			return ""
		}
		return getenv(name)
	}
}

// unconfigured answers every request of an isolate whose bindings do not
// make a valid configuration. The reason is in the log, never in an answer.
var unconfigured = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	problem.Write(w, http.StatusInternalServerError, "Not configured", "See the Worker's logs.")
})

// bindings reads the Worker's environment as bff's getenv: a text binding
// (a var or a secret) is its string, a JSON var that is a number or a
// boolean is its text, and anything else (KV, services) is unset.
func bindings(env js.Value) func(string) string {
	return func(name string) string {
		if env.Type() != js.TypeObject {
			return ""
		}
		v := env.Get(name)
		switch v.Type() {
		case js.TypeString:
			return v.String()
		case js.TypeNumber, js.TypeBoolean:
			return js.Global().Call("String", v).String()
		}
		return ""
	}
}
