//go:build js

package telemetry

import (
	"net/http"
	"time"
)

// Metrics in the WebAssembly (Cloudflare Worker) build counts nothing: a
// Worker has no listener for Prometheus to scrape, and each isolate would
// count only its own requests. Leaving the client library out keeps it
// out of the Worker's size.
type Metrics struct{}

// NewMetrics returns the Worker build's Metrics.
func NewMetrics() *Metrics { return &Metrics{} }

// Handler answers 404: there are no metrics to serve.
func (m *Metrics) Handler() http.Handler { return http.NotFoundHandler() }

// Login, Refresh, Revocation, SessionRejected and SessionSealed count
// nothing in this build.
func (m *Metrics) Login(string)           {}
func (m *Metrics) Refresh(string)         {}
func (m *Metrics) Revocation(string)      {}
func (m *Metrics) SessionRejected(string) {}
func (m *Metrics) SessionSealed(int)      {}

func (m *Metrics) started()                            {}
func (m *Metrics) finished(string, int, time.Duration) {}

// Transport is next: no round trip is measured.
func (m *Metrics) Transport(next http.RoundTripper, _ func(*http.Request) string) http.RoundTripper {
	return next
}
