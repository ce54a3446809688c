package server

import (
	"context"
	"fmt"
	"net/http"

	"bff/internal/config"
	"bff/internal/telemetry"
)

// newTracing starts the span exporter when the OTEL_* variables ask for
// one; otherwise it returns nil, and nothing on the request path changes.
func newTracing(c config.Tracing) (*telemetry.Tracing, error) {
	if c.TracesURL == "" {
		return nil, nil
	}
	t, err := telemetry.NewTracing(context.Background(), telemetry.TraceConfig{
		URL:              c.TracesURL,
		ServiceName:      c.ServiceName,
		TrustTraceparent: c.TrustTraceparent,
	})
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return t, nil
}

// traceIdP gives each call to the IdP a span named by its purpose.
func (s *Server) traceIdP(c *http.Client) *http.Client {
	c.Transport = s.tracing.Transport("idp", func(r *http.Request) string { return s.auth.CallName(r.URL) }, c.Transport)
	return c
}

// shutdownTracing exports the spans of the requests just drained.
func (s *Server) shutdownTracing(ctx context.Context) {
	if err := s.tracing.Shutdown(ctx); err != nil {
		s.log.Warn("tracing: exporting the last spans failed", "err", err)
	}
}
