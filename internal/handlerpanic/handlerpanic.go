// Package handlerpanic is what the adapters that stand in for net/http's
// server (the Lambda function URL one and the Worker's bridge) do about a
// handler that panics, as the server would.
package handlerpanic

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"bff/internal/problem"
)

// UnderServer returns ctx as a server's request carries it.
// ReverseProxy reports a body it could not finish copying by panicking
// with http.ErrAbortHandler, but only under a server; otherwise it ends
// the response as if it were complete. An adapter serving requests
// without one stands in for it, so that a cut body stays cut.
func UnderServer(ctx context.Context) context.Context {
	return context.WithValue(ctx, http.ServerContextKey, standIn)
}

// standIn is what requests carry as their http.Server: none serves them,
// and nothing reads its fields.
var standIn = &http.Server{}

// Answer logs a handler's panic v (see Log) and writes the problem w
// answers with: 502 for a body ReverseProxy could not finish, 500 for
// anything else. The caller has made sure nothing was sent yet, and
// dropped what was written.
func Answer(log *slog.Logger, v any, w http.ResponseWriter) {
	if Log(log, v) {
		problem.Write(w, http.StatusBadGateway, "Bad gateway", "")
		return
	}
	problem.Write(w, http.StatusInternalServerError, "Internal server error", "")
}

// Log logs a handler's panic v as net/http's server would, except
// http.ErrAbortHandler, which is how a handler cuts a response short on
// purpose (ReverseProxy, when the upstream's body broke off); it reports
// whether v was that.
func Log(log *slog.Logger, v any) (aborted bool) {
	if err, _ := v.(error); errors.Is(err, http.ErrAbortHandler) {
		return true
	}
	log.Error("panic serving a request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return false
}
