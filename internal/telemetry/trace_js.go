//go:build js

package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// In the WebAssembly (Cloudflare Worker) build there is no tracing: an
// exporter sends spans in the background, after the request that made
// them, which a Worker may not do (every I/O belongs to a request), and
// leaving the SDK and the OTLP exporter out keeps them out of the
// Worker's size. NewTracing refuses a configuration that asks for it.

// Tracing is always off in this build: a nil *Tracing.
type Tracing struct{}

// NewTracing returns nil (off), or an error when c asks for spans.
func NewTracing(_ context.Context, c TraceConfig) (*Tracing, error) {
	if c.URL != "" {
		return nil, errors.New("OpenTelemetry tracing is not available in the Worker build; unset the OTEL_* variables")
	}
	return nil, nil
}

func (t *Tracing) Shutdown(context.Context) error { return nil }

// LogErrors does nothing: there is no exporter to fail.
func LogErrors(*slog.Logger) {}

func (t *Tracing) Middleware(_ func(*http.Request) string, next http.Handler) http.Handler {
	return next
}

func (t *Tracing) Transport(_ string, _ func(*http.Request) string, next http.RoundTripper) http.RoundTripper {
	return next
}

func (t *Tracing) Span(ctx context.Context, _ string) (context.Context, func(failure string)) {
	return ctx, noEnd
}
