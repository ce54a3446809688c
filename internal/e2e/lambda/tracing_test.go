package lambda

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// TestFunctionURLTracesAtShutdown: spans wait in the exporter's batch, so
// the ones still there when the runtime ends the function are exported
// on the way out.
func TestFunctionURLTracesAtShutdown(t *testing.T) {
	t.Parallel()
	var exports atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			exports.Add(1)
		}
	}))
	defer collector.Close()
	f := deploy(t, bfftest.Build(t), options{Discovery: true, Env: map[string]string{
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.URL + "/v1/traces",
		"OTEL_BSP_SCHEDULE_DELAY":            "600000", // no batch leaves on its own
	}})
	if r := f.get(t, "/no-such-page"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("%d", r.StatusCode)
	}
	if n := exports.Load(); n != 0 {
		t.Fatalf("%d exports before the end; the batch delay did not hold them", n)
	}
	f.Lambda.SignalFunction(t, syscall.SIGTERM)
	if !bfftest.Eventually(5*time.Second, func() bool { return exports.Load() > 0 }) {
		t.Fatalf("no spans exported within 5 s of SIGTERM:\n%s", f.Lambda.Stdout.String())
	}
}
