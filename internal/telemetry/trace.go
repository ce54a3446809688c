//go:build !js

package telemetry

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"bff/internal/version"
)

// Tracing makes bff's spans. A nil *Tracing is tracing off: its methods
// then hand back what they were given, so the request path gains no
// wrapper, no allocation and no lookup.
//
// Spans carry no token, cookie, authorization code, state or query
// string: names and attributes come from the method, the route's name, the
// peer's host and port and the status code only, never from a URL or an
// error's text, which may quote one.
type Tracing struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	prop     propagation.TraceContext
	trust    bool
}

// NewTracing starts exporting spans over OTLP/HTTP in batches. The
// exporter reads the rest of its settings (headers, timeout, compression,
// TLS) from the standard OTEL_EXPORTER_OTLP_* variables, and the provider
// its sampler and batching from OTEL_TRACES_SAMPLER and OTEL_BSP_*.
func NewTracing(ctx context.Context, c TraceConfig) (*Tracing, error) {
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.URL))
	if err != nil {
		return nil, err
	}
	opts := []resource.Option{
		resource.WithAttributes(attribute.String("service.name", "bff"), attribute.String("service.version", version.String())),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	}
	if c.ServiceName != "" {
		opts = append(opts, resource.WithAttributes(attribute.String("service.name", c.ServiceName)))
	}
	res, err := resource.New(ctx, opts...)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{provider: tp, tracer: tp.Tracer("bff"), trust: c.TrustTraceparent}, nil
}

// Shutdown exports the spans still buffered and stops.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// LogErrors sends what the OpenTelemetry SDK cannot do (a collector that
// cannot be reached) to log as warnings, instead of plain text on stderr.
// The SDK's error handler is process-wide, so only main calls this.
func LogErrors(log *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: exporting spans failed", "err", err)
	}))
}

// Middleware gives every request a server span named by its method and
// route, which it ends when the handler returns, and tells the access log
// (outside it) the trace's id. An incoming traceparent
// becomes the span's parent only when trusted; otherwise the span starts
// a trace of its own and links to it.
func (t *Tracing) Middleware(route func(*http.Request) string, next http.Handler) http.Handler {
	if t == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		method := methodName(r.Method)
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
		if remote := trace.SpanContextFromContext(t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))); remote.IsValid() {
			if t.trust {
				ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
			} else {
				opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: remote}))
			}
		}
		ctx, span := t.tracer.Start(ctx, method, opts...)
		defer span.End()
		if i := infoFrom(ctx); i != nil {
			i.trace = span.SpanContext().TraceID()
		}
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(ctx)
		next.ServeHTTP(rec, r)

		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		name := route(r)
		span.SetName(method + " " + name)
		span.SetAttributes(
			attribute.String("http.request.method", method),
			attribute.String("http.route", name),
			attribute.Int("http.response.status_code", status),
		)
		if status >= 500 {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
		}
	})
}

// Transport gives every round trip through next a client span named kind
// and name(req) ("idp token", "upstream /api/"), and sends the span's
// context to the peer as traceparent in place of any the request carried.
// The span ends with the response headers: a stream may last for hours.
func (t *Tracing) Transport(kind string, name func(*http.Request) string, next http.RoundTripper) http.RoundTripper {
	if t == nil {
		return next
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		method := methodName(req.Method)
		attrs := []attribute.KeyValue{attribute.String("http.request.method", method)}
		if host, port, err := net.SplitHostPort(req.URL.Host); err == nil {
			attrs = append(attrs, attribute.String("server.address", host))
			if n, err := strconv.Atoi(port); err == nil {
				attrs = append(attrs, attribute.Int("server.port", n))
			}
		} else {
			attrs = append(attrs, attribute.String("server.address", req.URL.Hostname()))
		}
		ctx, span := t.tracer.Start(req.Context(), kind+" "+name(req), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
		defer span.End()
		// A RoundTripper must not change the request it is given.
		out := req.Clone(ctx)
		out.Header.Del("Traceparent")
		out.Header.Del("Tracestate")
		t.prop.Inject(ctx, propagation.HeaderCarrier(out.Header))
		resp, err := next.RoundTrip(out)
		if err != nil {
			span.SetAttributes(attribute.String("error.type", transportError(ctx, err)))
			span.SetStatus(codes.Error, "")
			return resp, err
		}
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 400 {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(resp.StatusCode)))
			span.SetStatus(codes.Error, "")
		}
		return resp, err
	})
}

// Span starts a span called name under ctx's span, for work that is no
// HTTP call of its own (a refresh, which may make one). end takes the
// kind of failure, or "" for success.
func (t *Tracing) Span(ctx context.Context, name string) (context.Context, func(failure string)) {
	if t == nil {
		return ctx, noEnd
	}
	ctx, span := t.tracer.Start(ctx, name)
	return ctx, func(failure string) {
		if failure != "" {
			span.SetAttributes(attribute.String("error.type", failure))
			span.SetStatus(codes.Error, "")
		}
		span.End()
	}
}

// methodName is the method as semantic conventions want it: one of the
// standard methods, else "_OTHER", so a client cannot invent span names.
func methodName(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// transportError names why a round trip failed without its text, which
// quotes the URL and with it any query string.
func transportError(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "connection"
}
