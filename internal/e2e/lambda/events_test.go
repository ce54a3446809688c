package lambda

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"bff/internal/bfftest"
)

// TestFunctionURLBadEvents invokes the function with events no function
// URL would send. Each one that is JSON gets a 400 problem; one that is
// not JSON fails its invocation. Either way the same process goes on
// serving: no panic, no stuck invocation, no restart. The listeners' own
// variables are ignored under Lambda: addresses no socket could bind do
// not stop the function, and the metrics one is named in a warning.
func TestFunctionURLBadEvents(t *testing.T) {
	t.Parallel()
	f := deploy(t, bfftest.Build(t), options{Discovery: true, Env: map[string]string{
		"BFF_LISTEN": "192.0.2.1:8080", "BFF_METRICS_LISTEN": "192.0.2.1:9090", // TEST-NET-1: never local
	}})
	health := func(t *testing.T) {
		t.Helper()
		if r := f.get(t, "/healthz"); r.StatusCode != http.StatusOK {
			t.Fatalf("/healthz after a bad event: %d %s", r.StatusCode, r.Text)
		}
	}
	health(t)

	good := func(change func(ev map[string]any)) string {
		req, _ := http.NewRequest(http.MethodGet, public.String()+"/healthz", nil)
		b, err := f.Event(req)
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		json.Unmarshal(b, &ev)
		change(ev)
		b, _ = json.Marshal(ev)
		return string(b)
	}
	httpOf := func(ev map[string]any) map[string]any {
		return ev["requestContext"].(map[string]any)["http"].(map[string]any)
	}
	for name, event := range map[string]string{
		"empty object":          `{}`,
		"null":                  `null`,
		"array":                 `[1,2]`,
		"string":                `"GET /"`,
		"requestContext number": `{"requestContext":5}`,
		"headers not strings":   good(func(ev map[string]any) { ev["headers"] = map[string]any{"x": 1} }),
		"no method":             good(func(ev map[string]any) { delete(httpOf(ev), "method") }),
		"method with a space":   good(func(ev map[string]any) { httpOf(ev)["method"] = "GET /admin" }),
		"sourceIp not an IP":    good(func(ev map[string]any) { httpOf(ev)["sourceIp"] = "localhost" }),
		"no sourceIp":           good(func(ev map[string]any) { delete(httpOf(ev), "sourceIp") }),
		"relative rawPath":      good(func(ev map[string]any) { ev["rawPath"] = "healthz" }),
		"space in rawPath":      good(func(ev map[string]any) { ev["rawPath"] = "/a b" }),
		"newline in query":      good(func(ev map[string]any) { ev["rawQueryString"] = "a=1\r\nX-Injected: 1" }),
		"CRLF in a header":      good(func(ev map[string]any) { ev["headers"].(map[string]any)["x-a"] = "1\r\nX-Injected: 1" }),
		"bad header name":       good(func(ev map[string]any) { ev["headers"].(map[string]any)["x a"] = "1" }),
		"CRLF in a cookie":      good(func(ev map[string]any) { ev["cookies"] = []string{"a=1\r\nX-Injected: 1"} }),
		"body not base64": good(func(ev map[string]any) {
			ev["body"], ev["isBase64Encoded"] = "not base64!", true
		}),
	} {
		out, err := f.Lambda.Invoke([]byte(event))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		res, err := f.Decode(out)
		if err != nil || res.Status != http.StatusBadRequest || res.Headers["Content-Type"] != "application/problem+json" || len(res.Cookies) > 0 {
			t.Errorf("%s: %+v %v; want a 400 problem", name, res, err)
		}
	}
	health(t)

	if _, err := f.Lambda.Invoke([]byte("GET / HTTP/1.1")); !bfftest.IsInvocationError(err) {
		t.Errorf("an event that is not JSON: %v; want a failed invocation", err)
	}
	health(t)

	logs := f.Lambda.Stdout.String() + f.Lambda.Stderr.String()
	if n := strings.Count(logs, "bff serving function URL invocations"); n != 1 || strings.Contains(logs, "panic") {
		t.Errorf("bff started %d times, or panicked:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"msg":"BFF_METRICS_LISTEN is ignored under AWS Lambda`) {
		t.Error("no warning that BFF_METRICS_LISTEN is ignored")
	}
}

// TestFunctionURLClientAddress: the event's sourceIp is the client's
// address, as a TCP peer is: the login rate limit counts per sourceIp, and
// the upstream's X-Forwarded-For is sourceIp, not what the browser wrote.
func TestFunctionURLClientAddress(t *testing.T) {
	t.Parallel()
	f := deploy(t, bfftest.Build(t), options{Discovery: true, Env: map[string]string{"BFF_AUTH_RATE_LIMIT": "1"}})
	statuses := func(ip string, n int) []int {
		f.SourceIP = ip
		var out []int
		for range n {
			out = append(out, f.get(t, "/auth/login").StatusCode)
		}
		return out
	}
	// A limit of 1 a minute allows a burst of 5.
	if got := statuses("198.51.100.1", 6); got[4] != http.StatusFound || got[5] != http.StatusTooManyRequests {
		t.Errorf("six logins from one sourceIp: %v; want the sixth refused with 429", got)
	}
	if got := statuses("198.51.100.2", 1); got[0] != http.StatusFound {
		t.Errorf("a login from another sourceIp: %v; want 302", got)
	}

	f.SourceIP = sourceIP
	f.login(t)
	f.get(t, "/api/x", "X-CSRF", "1", "X-Forwarded-For", "203.0.113.77")
	if saw := f.Upstream.Last(t); saw.XFF != sourceIP {
		t.Errorf("the upstream's X-Forwarded-For is %q, want the sourceIp %s alone", saw.XFF, sourceIP)
	}
}
