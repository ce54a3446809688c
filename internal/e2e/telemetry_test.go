package e2e

import (
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
	"bff/internal/telemetry"
	"bff/internal/version"
)

func TestMetricsScrape(t *testing.T) {
	metrics := kit.ClosedPort(t)
	s := bfftest.NewStack(t, bfftest.StackOptions{Env: map[string]string{"BFF_METRICS_LISTEN": metrics}})
	s.Login()
	s.API("/api/a")
	s.Clock.Advance(2 * time.Minute)
	s.API("/api/b") // refresh
	s.Get("/api/c") // 403
	anon, _ := bfftest.NewClient(t)
	anon.Jar.SetCookies(s.Public, []*http.Cookie{{Name: "__Host-bff-session", Value: "garbage"}})
	bfftest.Get(t, anon, s.Front.URL, "/api/d", "X-CSRF", "1") // rejected: malformed
	s.Get(s.LogoutURL())                                       // revokes the refresh token

	scrape := bfftest.Get(t, anon, "http://"+metrics, "/metrics")
	if scrape.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d", scrape.StatusCode)
	}
	text := scrape.Text
	for _, want := range []string{
		`bff_http_requests_total{code="2xx",route="/api/"} 2`,
		`bff_http_requests_total{code="4xx",route="/api/"} 2`,
		`bff_http_requests_total{code="3xx",route="/auth/callback"} 1`,
		`bff_logins_total{outcome="started"} 1`,
		`bff_logins_total{outcome="completed"} 1`,
		`bff_token_refreshes_total{outcome="refreshed"} 1`,
		`bff_sessions_rejected_total{reason="malformed"} 1`,
		`bff_upstream_duration_seconds_count{route="/api/"} 2`,
		`bff_session_cookie_bytes_count 2`,
		`bff_revocations_total{outcome="revoked"} 1`,
		`bff_http_request_duration_seconds_count{code="2xx",route="/api/"} 2`,
		`bff_http_request_duration_seconds_count{code="4xx",route="/api/"} 2`,
		`bff_http_request_duration_seconds_bucket{code="3xx",route="/auth/callback",le="+Inf"} 1`,
		`bff_http_requests_in_flight 0`,
		`bff_build_info{goversion="` + runtime.Version() + `",version="` + version.String() + `"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, tok := range append(s.OP.IssuedTokens(), s.Secrets()...) {
		if strings.Contains(text, tok) {
			t.Fatal("a secret reached /metrics")
		}
	}
	// The public listener does not serve metrics.
	if r := s.Get("/metrics"); r.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404", r.StatusCode)
	}
}

func TestAccessLog(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{})
	s.Login()
	r := s.Get("/api/orders/42", "X-CSRF", "1", "X-Request-Id", "req-abc.123")
	if got := r.Header.Get("X-Request-Id"); got != "req-abc.123" {
		t.Errorf("request id not echoed: %q", got)
	}
	if saw := s.Upstream.Last(t); saw.Path == "" {
		t.Fatal("upstream not reached")
	}
	bad := s.Get("/healthz", "X-Request-Id", "evil <script>")
	if id := bad.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, "evil") {
		t.Errorf("an insane request id was echoed: %q", id)
	}

	var line map[string]any
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, `"request_id":"req-abc.123"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatal("no access-log line for the request")
	}
	want := map[string]any{"msg": "request", "method": "GET", "route": "/api/", "status": float64(200),
		"sub_hash": telemetry.SubjectHash("demo-user")}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("access log %s = %v, want %v", k, line[k], v)
		}
	}
	if ms, ok := line["duration"].(float64); !ok || ms <= 0 || ms > 10_000 {
		t.Errorf("access log duration %v (%T): want a number of milliseconds", line["duration"], line["duration"])
	}
	// Probes are logged at debug: an orchestrator asks every few seconds.
	probes := 0
	for _, l := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(l, `"route":"/healthz"`) {
			probes++
			if !strings.Contains(l, `"level":"DEBUG"`) {
				t.Errorf("a probe's access-log line above debug: %s", l)
			}
		}
	}
	if probes == 0 {
		t.Error("no access-log line for /healthz at debug level")
	}
	if strings.Contains(s.Logs.String(), "/api/orders/42") {
		t.Error("the raw path reached the log; routes are named by prefix")
	}
}
