package cors

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		parse func(string) ([]string, error)
		in    string
		want  string
		bad   bool
	}{
		{ParseOrigins, "", "", false},
		{ParseOrigins, "https://a.example.com", "https://a.example.com", false},
		{ParseOrigins, " https://A.example.com , http://localhost:3000 ", "https://a.example.com,http://localhost:3000", false},
		{ParseOrigins, "*", "", true},
		{ParseOrigins, "a.example.com", "", true},
		{ParseOrigins, "https://a.example.com/path", "", true},
		{ParseOrigins, "https://u:p@a.example.com", "", true},
		{ParseOrigins, "https://a.example.com,", "", true},
		{ParseOrigins, "ftp://a.example.com", "", true},
		{ParseHeaders, "", "", false},
		{ParseHeaders, " X-Tenant , Idempotency-Key ", "X-Tenant,Idempotency-Key", false},
		{ParseHeaders, "*", "", true},
		{ParseHeaders, "X-Tenant,", "", true},
		{ParseHeaders, "X Tenant", "", true},
		{ParseHeaders, "X-Tenant:1", "", true},
	} {
		got, err := tc.parse(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("parse(%q) err = %v, want bad=%v", tc.in, err, tc.bad)
			continue
		}
		if !tc.bad && strings.Join(got, ",") != tc.want {
			t.Errorf("parse(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHandler(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	req := func(method, origin string, preflight bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/api/x", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if preflight {
			r.Header.Set("Access-Control-Request-Method", "POST")
		}
		rec := httptest.NewRecorder()
		Handler([]string{"https://admin.example.com"}, nil, next).ServeHTTP(rec, r)
		return rec
	}
	if rec := req("GET", "https://admin.example.com", false); rec.Code != http.StatusTeapot ||
		rec.Header().Get("Access-Control-Allow-Origin") != "https://admin.example.com" ||
		rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin: %d %v", rec.Code, rec.Header())
	}
	if rec := req("GET", "https://evil.example", false); rec.Code != http.StatusTeapot || hasCORS(rec) {
		t.Errorf("other origin got CORS headers: %v", rec.Header())
	}
	if rec := req("OPTIONS", "https://admin.example.com", true); rec.Code != http.StatusNoContent ||
		!strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "X-CSRF") {
		t.Errorf("allowed preflight: %d %v", rec.Code, rec.Header())
	}
	if rec := req("OPTIONS", "https://evil.example", true); rec.Code != http.StatusForbidden || hasCORS(rec) {
		t.Errorf("other preflight: %d %v", rec.Code, rec.Header())
	}
	// No list: nothing added at all.
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("OPTIONS", "/api/x", nil)
	r.Header.Set("Origin", "https://admin.example.com")
	r.Header.Set("Access-Control-Request-Method", "POST")
	Handler(nil, []string{"X-Extra"}, next).ServeHTTP(rec, r)
	if rec.Code != http.StatusTeapot || hasCORS(rec) {
		t.Errorf("empty list: %d %v", rec.Code, rec.Header())
	}
}

func hasCORS(rec *httptest.ResponseRecorder) bool {
	for k := range rec.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			return true
		}
	}
	return false
}

// TestPreflightHeaders: a cross-origin SPA that traces its calls sends
// traceparent and tracestate, and may need headers of its own; the
// preflight must allow each, or the browser refuses the call.
func TestPreflightHeaders(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("a preflight reached the handler") })
	for _, tc := range []struct {
		configured []string
		want       []string
		notWant    []string
	}{
		{nil, []string{"x-csrf", "content-type", "traceparent", "tracestate", "x-request-id"}, []string{"x-tenant"}},
		{[]string{"X-Tenant", "Idempotency-Key"}, []string{"x-csrf", "traceparent", "x-tenant", "idempotency-key"}, []string{"authorization"}},
	} {
		r := httptest.NewRequest(http.MethodOptions, "/api/x", nil)
		r.Header.Set("Origin", "https://admin.example.com")
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "traceparent,x-csrf")
		rec := httptest.NewRecorder()
		Handler([]string{"https://admin.example.com"}, tc.configured, next).ServeHTTP(rec, r)
		allowed := map[string]bool{}
		for _, h := range strings.Split(rec.Header().Get("Access-Control-Allow-Headers"), ",") {
			allowed[strings.ToLower(strings.TrimSpace(h))] = true
		}
		for _, h := range tc.want {
			if !allowed[h] {
				t.Errorf("configured %q: %s not allowed (%q)", tc.configured, h, rec.Header().Get("Access-Control-Allow-Headers"))
			}
		}
		for _, h := range tc.notWant {
			if allowed[h] {
				t.Errorf("configured %q: %s allowed", tc.configured, h)
			}
		}
	}
}
