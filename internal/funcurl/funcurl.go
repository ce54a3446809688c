// Package funcurl serves AWS Lambda function URL invocations with an
// http.Handler: each event (payload format 2.0) becomes the request a
// listener would have received, and the handler's response becomes the
// invocation's result, streamed (InvokeMode RESPONSE_STREAM, so server-sent
// events flow as they are written) or in one piece (BUFFERED).
//
// It is its own adapter rather than aws-lambda-go's lambdaurl, which drops
// the event's cookies array, sends a base64-encoded body without its
// length, takes an interim 1xx status for the final one, fails the
// invocation for an event it cannot decode, and lets a handler's panic end
// the process.
package funcurl

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"

	"bff/internal/handlerpanic"
	"bff/internal/problem"
)

// Handler returns the invocation handler for h, to be started with
// aws-lambda-go's lambda.Start: it takes the raw event, so that one it
// cannot decode is answered 400 instead of failing the invocation.
// buffered is the function URL's InvokeMode BUFFERED.
func Handler(h http.Handler, buffered bool, log *slog.Logger) func(context.Context, json.RawMessage) (any, error) {
	a := &adapter{log: log}
	return func(ctx context.Context, payload json.RawMessage) (any, error) {
		r, err := Request(ctx, payload)
		if err != nil {
			// The event's content is the browser's request: only the reason
			// it was refused is logged.
			log.Warn("refused a function URL event", "err", err)
			r = &http.Request{Method: http.MethodGet, Header: http.Header{}, Body: http.NoBody}
			r = r.WithContext(ctx)
			if buffered {
				return a.buffered(badEvent, r), nil
			}
			return a.stream(badEvent, r), nil
		}
		r = r.WithContext(handlerpanic.UnderServer(r.Context()))
		if buffered {
			return a.buffered(h, r), nil
		}
		return a.stream(h, r), nil
	}
}

var badEvent = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	problem.Write(w, http.StatusBadRequest, "Bad request", "The function URL event could not be read.")
})

// Start serves function URL invocations with h through the Lambda runtime
// API until ctx ends. The runtime API client ends the process itself if
// the runtime goes away.
func Start(ctx context.Context, h http.Handler, buffered bool, log *slog.Logger) error {
	go lambda.StartWithOptions(Handler(h, buffered, log), lambda.WithContext(ctx))
	<-ctx.Done()
	return nil
}

type adapter struct {
	log *slog.Logger
}

// recovered answers with the problem a handler's panic calls for, when
// nothing was sent yet.
func (a *adapter) recovered(v any, w http.ResponseWriter) {
	handlerpanic.Answer(a.log, v, w)
}

// errAborted ends a response stream that broke off: the runtime API reports
// the invocation as failed instead of complete.
var errAborted = errors.New("the response was cut short")

// flatten is h as a function URL result spells it: one value per header,
// repeated fields joined by commas, and every Set-Cookie line apart.
func flatten(h http.Header) (headers map[string]string, cookies []string) {
	headers = make(map[string]string, len(h))
	for name, values := range h {
		if name == "Set-Cookie" {
			cookies = slices.Clone(values)
			continue
		}
		headers[name] = strings.Join(values, ", ")
	}
	return headers, cookies
}
