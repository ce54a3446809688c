//go:build !js

// Package telemetry is bff's view from outside: Prometheus metrics, served
// on their own listener, and one structured access-log line per request.
// Nothing here ever sees a token: sessions are known by a hash of their
// subject.
package telemetry

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"bff/internal/version"
)

// Metrics holds bff's collectors in a registry of its own, so nothing
// depends on the process-wide default registry.
type Metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	durations   *prometheus.HistogramVec
	inFlight    atomic.Int64
	series      sync.Map // route name -> *routeSeries
	upstream    *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	refreshes   *prometheus.CounterVec
	revocations *prometheus.CounterVec
	rejected    *prometheus.CounterVec
	cookieBytes prometheus.Histogram
}

// NewMetrics registers every collector, plus the Go runtime and process
// collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_http_requests_total",
			Help: "Requests served, by route and status class.",
		}, []string{"route", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bff_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response, by route and status class.",
			Buckets: durationBuckets,
		}, []string{"route", "code"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bff_upstream_duration_seconds",
			Help:    "Time from forwarding a request to the upstream's response headers, by route.",
			Buckets: durationBuckets,
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_logins_total",
			Help: "Logins by outcome: started, completed, failed, no_idp_session (a silent sign-in that found no session at the IdP).",
		}, []string{"outcome"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_token_refreshes_total",
			Help: "Access-token refreshes by outcome: refreshed, kept (failed, current token used), refused (session ended), unavailable.",
		}, []string{"outcome"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_revocations_total",
			Help: "Refresh-token revocations at logout by outcome: revoked, refused (the IdP answered with an error), failed (no answer).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bff_sessions_rejected_total",
			Help: "Session cookies not accepted, by reason: expired, bad_key, tampered, malformed.",
		}, []string{"reason"}),
		cookieBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "bff_session_cookie_bytes",
			Help:    "Size of each sealed session cookie value written.",
			Buckets: []float64{1024, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768},
		}),
	}
	inFlight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "bff_http_requests_in_flight",
		Help: "Requests being served now.",
	}, func() float64 { return float64(m.inFlight.Load()) })
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bff_build_info",
		Help: "Always 1; its labels say which build is running.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version.String(), runtime.Version()).Set(1)
	m.reg.MustRegister(m.requests, m.durations, inFlight, buildInfo, m.upstream, m.logins, m.refreshes, m.revocations, m.rejected, m.cookieBytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// durationBuckets suit a proxy: most answers take milliseconds, a slow
// upstream or IdP seconds.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Login, Refresh, Revocation, SessionRejected and SessionSealed count
// oidc's events.
func (m *Metrics) Login(outcome string)          { m.logins.WithLabelValues(outcome).Inc() }
func (m *Metrics) Refresh(outcome string)        { m.refreshes.WithLabelValues(outcome).Inc() }
func (m *Metrics) Revocation(outcome string)     { m.revocations.WithLabelValues(outcome).Inc() }
func (m *Metrics) SessionRejected(reason string) { m.rejected.WithLabelValues(reason).Inc() }
func (m *Metrics) SessionSealed(bytes int)       { m.cookieBytes.Observe(float64(bytes)) }

// routeSeries are one route's request series by status class, looked up
// once: a vector's label lookup on every request costs more than the
// observation itself.
type routeSeries [6]struct {
	once     sync.Once
	count    prometheus.Counter
	duration prometheus.Observer
}

var statusClasses = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// started and finished bracket a request: the gauge of requests in flight,
// and the count and duration of each by route and status class.
func (m *Metrics) started() { m.inFlight.Add(1) }

func (m *Metrics) finished(route string, status int, d time.Duration) {
	m.inFlight.Add(-1)
	v, ok := m.series.Load(route)
	if !ok {
		v, _ = m.series.LoadOrStore(route, &routeSeries{})
	}
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	s := &v.(*routeSeries)[class]
	s.once.Do(func() {
		s.count = m.requests.WithLabelValues(route, statusClasses[class])
		s.duration = m.durations.WithLabelValues(route, statusClasses[class])
	})
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// Transport measures each upstream round trip under the label route(req)
// gives it.
func (m *Metrics) Transport(next http.RoundTripper, route func(*http.Request) string) http.RoundTripper {
	var observers sync.Map // route name → prometheus.Observer, as in finished
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := next.RoundTrip(req)
		name := route(req)
		o, ok := observers.Load(name)
		if !ok {
			o, _ = observers.LoadOrStore(name, m.upstream.WithLabelValues(name))
		}
		o.(prometheus.Observer).Observe(time.Since(start).Seconds())
		return resp, err
	})
}
