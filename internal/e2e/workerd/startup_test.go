package workerd

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// TestWorkerStartup covers an isolate whose first request finds bff unable
// to serve: bindings that do not configure it, and an IdP that is down.
func TestWorkerStartup(t *testing.T) {
	t.Run("bindings bff cannot use", func(t *testing.T) {
		w := startRig(t, RigOptions{Env: map[string]string{
			"BFF_COOKIE_KEYS":             "",
			"BFF_CLIENT_SECRET":           "",
			"BFF_CLIENT_SECRET_FILE":      "/run/secrets/client-secret",
			"BFF_METRICS_LISTEN":          ":9090",
			"BFF_REDIS_URL":               "redis://127.0.0.1:6379",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
		}})
		client, _ := bfftest.NewClient(t)
		for range 2 { // the isolate keeps answering
			r := bfftest.Get(t, client, w.URL, "/auth/login")
			if r.StatusCode != http.StatusInternalServerError || r.Header.Get("Content-Type") != "application/problem+json" || strings.Contains(r.Text, "BFF_") {
				t.Fatalf("%d %q %s; want 500 problem+json naming nothing", r.StatusCode, r.Header.Get("Content-Type"), r.Text)
			}
		}
		logs := w.Logs()
		for _, name := range []string{"BFF_COOKIE_KEYS", "BFF_CLIENT_SECRET_FILE", "BFF_METRICS_LISTEN", "BFF_REDIS_URL", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
			if !strings.Contains(logs, name) {
				t.Errorf("the log does not name %s:\n%s", name, logs)
			}
		}
	})

	// Tracing turned off as the binary turns it off: the endpoints set
	// mean nothing, and the Worker serves.
	for name, env := range map[string]map[string]string{
		"OTEL_SDK_DISABLED": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"},
		"exporter NONE":     {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces", "OTEL_TRACES_EXPORTER": "NONE"},
	} {
		t.Run("tracing off by "+name, func(t *testing.T) {
			w := startRig(t, RigOptions{Env: env})
			client, _ := bfftest.NewClient(t)
			if r := bfftest.Get(t, client, w.URL, "/auth/login"); r.StatusCode != http.StatusFound {
				t.Errorf("%d %s; want 302\n%s", r.StatusCode, r.Text, w.Logs())
			}
		})
	}

	t.Run("IdP down at the first request", func(t *testing.T) {
		var calls atomic.Int64 // every request that reaches the OP's server
		w := startRig(t, RigOptions{OP: bfftest.OPOptions{Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				h.ServeHTTP(rw, r)
			})
		}}})
		w.OP.Down.Store(true)
		client, _ := bfftest.NewClient(t)
		if r := bfftest.Get(t, client, w.URL, "/auth/login"); r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("login with the IdP down: %d %s, want 503", r.StatusCode, r.Text)
		}
		tried := calls.Load()
		if tried == 0 {
			t.Fatal("the first request did not try the IdP")
		}
		if r := bfftest.Get(t, client, w.URL, "/healthz"); r.StatusCode != http.StatusOK {
			t.Errorf("healthz: %d, want 200", r.StatusCode)
		}
		if r := bfftest.Get(t, client, w.URL, "/readyz"); r.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("readyz: %d, want 503", r.StatusCode)
		}
		if n := calls.Load(); n != tried {
			t.Errorf("%d more discovery attempts right after a failed one; want none for 5 s", n-tried)
		}
		w.OP.Down.Store(false)
		// Past the 5 s after a failed discovery in which requests do not
		// wait for another (measured on the monotonic clock, which the
		// test's clock module does not move).
		time.Sleep(5500 * time.Millisecond)
		if r := bfftest.Get(t, client, w.URL, "/auth/login"); r.StatusCode != http.StatusFound {
			t.Errorf("login with the IdP back: %d %s, want 302", r.StatusCode, r.Text)
		}
	})
}
