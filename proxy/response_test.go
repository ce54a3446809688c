package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

func TestCacheControlPrivate(t *testing.T) {
	for _, tc := range []struct {
		upstream []string // Cache-Control lines the upstream sends; nil sends none
		want     string
	}{
		{nil, "private"},
		{[]string{"max-age=60"}, "private, max-age=60"},
		{[]string{"public, max-age=60"}, "private, max-age=60"},
		{[]string{"Public", "s-maxage=300, must-revalidate"}, "private, s-maxage=300, must-revalidate"},
		{[]string{"no-cache"}, "private, no-cache"},
		{[]string{"private"}, "private"},
		{[]string{"max-age=60, PRIVATE"}, "max-age=60, PRIVATE"},
		{[]string{"no-store"}, "no-store"},
		{[]string{"no-store, max-age=0"}, "no-store, max-age=0"},
		{[]string{`private="Set-Cookie", max-age=60`}, `private, private="Set-Cookie", max-age=60`},
		{[]string{""}, "private"},
	} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.upstream != nil {
				w.Header()["Cache-Control"] = tc.upstream
			}
		}))
		f := newFixture(t, routes, up.URL, nil)
		res, _ := f.get(t, "/api/x", nil)
		if got := strings.Join(res.Header["Cache-Control"], " | "); got != tc.want {
			t.Errorf("upstream Cache-Control %q: browser got %q, want %q", tc.upstream, got, tc.want)
		}
		up.Close()
	}
}

// bffHeaders plays the middleware in front of the proxy: the headers bff
// sets on every response before the proxy runs.
func bffHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("X-Request-Id", "req-1")
		next.ServeHTTP(w, r)
	})
}

var securityHeaders = []string{"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Strict-Transport-Security"}

// TestSecurityHeadersOnce: when the upstream sends its own security
// headers, the browser still gets one value of each (two X-Frame-Options
// or two HSTS values make a browser honour neither), the upstream's first
// except for HSTS, where bff's own stands (an API must not weaken HSTS for
// the whole origin), and a Set-Cookie of bff's own (a resealed session)
// survives next to the upstream's.
func TestSecurityHeadersOnce(t *testing.T) {
	const bffHSTS = "max-age=63072000; includeSubDomains"
	for _, tc := range []struct {
		name     string
		upstream http.Header
		frame    string // the X-Frame-Options the browser gets
	}{
		{"upstream sends none", nil, "DENY"},
		{"upstream sends one of each", http.Header{
			"X-Content-Type-Options":    {"nosniff"},
			"Referrer-Policy":           {"same-origin"},
			"X-Frame-Options":           {"SAMEORIGIN"},
			"Strict-Transport-Security": {"max-age=300"},
		}, "SAMEORIGIN"},
		{"upstream sends two of each", http.Header{
			"X-Content-Type-Options":    {"nosniff", "nosniff"},
			"Referrer-Policy":           {"same-origin", "unsafe-url"},
			"X-Frame-Options":           {"SAMEORIGIN", "DENY"},
			"Strict-Transport-Security": {"max-age=300", "max-age=0"},
		}, "SAMEORIGIN"},
		{"upstream switches HSTS off", http.Header{"Strict-Transport-Security": {"max-age=0"}}, "DENY"},
	} {
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for name, values := range tc.upstream {
				w.Header()[name] = values
			}
			w.Header().Add("Set-Cookie", "cart=3")
		}))
		f := newFixture(t, routes, up.URL, nil)
		f.tokens.setCookie = "__Host-bff-session=RESEALED; Path=/; Secure; HttpOnly"
		front := httptest.NewServer(bffHeaders(f.proxy))
		res, err := front.Client().Do(f.requestTo(t, front.URL, "/api/x"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for _, name := range securityHeaders {
			if got := res.Header[name]; len(got) != 1 {
				t.Errorf("%s: %s = %q, want exactly one value", tc.name, name, got)
			}
		}
		if got := res.Header.Get("X-Frame-Options"); got != tc.frame {
			t.Errorf("%s: X-Frame-Options %q, want %q", tc.name, got, tc.frame)
		}
		if got := res.Header.Get("Strict-Transport-Security"); got != bffHSTS {
			t.Errorf("%s: Strict-Transport-Security %q, want bff's %q", tc.name, got, bffHSTS)
		}
		if got := res.Header["Set-Cookie"]; !slices.Contains(got, "cart=3") || !slices.ContainsFunc(got, isResealed) {
			t.Errorf("%s: Set-Cookie %q, want the upstream's and bff's", tc.name, got)
		}
		front.Close()
		up.Close()
	}
}

// TestMergeHeaders: the final response (bff's headers the target) and a
// WebSocket's 101 (the upstream's the target) settle the security headers
// alike, and without an HSTS of bff's own (plain http) the upstream's
// first stands.
func TestMergeHeaders(t *testing.T) {
	for _, tc := range []struct {
		name          string
		bff, upstream http.Header
		want          http.Header
	}{
		{"bff sets no HSTS",
			http.Header{"X-Frame-Options": {"DENY"}},
			http.Header{"Strict-Transport-Security": {"max-age=300", "max-age=0"}},
			http.Header{"X-Frame-Options": {"DENY"}, "Strict-Transport-Security": {"max-age=300"}}},
		{"upstream sends two and max-age=0",
			http.Header{"X-Frame-Options": {"DENY"}, "Strict-Transport-Security": {"max-age=63072000"}},
			http.Header{"X-Frame-Options": {"SAMEORIGIN", "DENY"}, "Strict-Transport-Security": {"max-age=0"}},
			http.Header{"X-Frame-Options": {"SAMEORIGIN"}, "Strict-Transport-Security": {"max-age=63072000"}}},
	} {
		final := tc.bff.Clone()
		mergeHeaders(final, tc.upstream.Clone(), true)
		switching := tc.upstream.Clone()
		mergeHeaders(switching, tc.bff.Clone(), false)
		for _, got := range []http.Header{final, switching} {
			for _, name := range securityHeaders {
				if !slices.Equal(got[name], tc.want[name]) {
					t.Errorf("%s: %s = %q, want %q", tc.name, name, got[name], tc.want[name])
				}
			}
		}
	}
}

func isResealed(line string) bool { return strings.HasPrefix(line, "__Host-bff-session=RESEALED") }

// TestInformationalResponses: a 103 Early Hints passes through with the
// upstream's headers only, bff's cookie names filtered out of it, and
// everything bff set before proxying (a resealed session, the security
// headers) arrives on the final response, not on the 103.
func TestInformationalResponses(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Link", "</app.css>; rel=preload; as=style")
		h.Add("Set-Cookie", "__Host-bff-session=FORGED; Path=/")
		h.Add("Set-Cookie", "hint=1")
		w.WriteHeader(http.StatusEarlyHints)
		clear(h)
		h.Set("Content-Type", "application/json")
		h.Add("Set-Cookie", "cart=3")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, routes, up.URL, nil)
	f.tokens.setCookie = "__Host-bff-session=RESEALED; Path=/; Secure; HttpOnly"
	front := httptest.NewServer(bffHeaders(f.proxy))
	t.Cleanup(front.Close)

	var early []textproto.MIMEHeader
	req := f.requestTo(t, front.URL, "/api/x")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			if code == http.StatusEarlyHints {
				early = append(early, h)
			}
			return nil
		},
	}))
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(early) != 1 {
		t.Fatalf("the browser saw %d 103 responses, want 1", len(early))
	}
	if got := early[0]["Link"]; len(got) != 1 {
		t.Errorf("103 Link %q, want the upstream's", got)
	}
	if got := early[0]["Set-Cookie"]; !slices.Equal(got, []string{"hint=1"}) {
		t.Errorf("103 Set-Cookie %q, want only the upstream's own hint=1", got)
	}
	if got := res.Header["Set-Cookie"]; !slices.ContainsFunc(got, isResealed) || !slices.Contains(got, "cart=3") || slices.Contains(got, "hint=1") {
		t.Errorf("final Set-Cookie %q, want bff's resealed session and the upstream's cart=3", got)
	}
	for _, name := range securityHeaders {
		if got := res.Header[name]; len(got) != 1 {
			t.Errorf("final %s = %q, want bff's one value", name, got)
		}
	}
	if res.Header.Get("X-Request-Id") != "req-1" {
		t.Errorf("final X-Request-Id %q", res.Header.Get("X-Request-Id"))
	}
}
