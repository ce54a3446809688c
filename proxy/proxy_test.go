package proxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// routes is the route table most tests use: upstreams with and without a
// path and a trailing slash, and nested prefixes.
const routes = "/api/=UP/v1,/api/v2/=UP/two/,/root=UP,/slash/=UP/,/esc/=UP/a%20b"

func TestForwardPath(t *testing.T) {
	up, _ := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	tests := []struct {
		target string
		want   string // request-URI the upstream sees
	}{
		{"/api/x?q=1", "/v1/x?q=1"},
		{"/api/", "/v1/"},
		{"/api", "/v1"},
		{"/api?q=1", "/v1?q=1"},
		{"/api/x/y/", "/v1/x/y/"},
		{"/api/x?a=1&a=2&b=%20c", "/v1/x?a=1&a=2&b=%20c"},
		{"/api/v2/x", "/two/x"},
		{"/api/v2/", "/two/"},
		{"/api/v2", "/two/"},
		{"/api/v22", "/v1/v22"},
		{"/api/v2x/y", "/v1/v2x/y"},
		{"/root/x", "/x"},
		{"/root/", "/"},
		{"/root", "/"},
		{"/slash/x", "/x"},
		{"/slash", "/"},
		{"/esc/x", "/a%20b/x"},
		{"/esc", "/a%20b"},
		{"/api/a%2Fb", "/v1/a%2Fb"},
		{"/api/a%2fb/c", "/v1/a%2fb/c"},
		{"/api/a%20b", "/v1/a%20b"},
		{"/api/caf%C3%A9", "/v1/caf%C3%A9"},
		{"/api/a%3Fb?c=d", "/v1/a%3Fb?c=d"},
		{"/api/x.json", "/v1/x.json"},
		{"/api/.well-known/x", "/v1/.well-known/x"},
		{"/api/...", "/v1/..."},
		{"/api/a..b", "/v1/a..b"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			e := f.echo(t, tt.target, nil)
			if e.RequestURI != tt.want {
				t.Errorf("%s reached upstream as %q, want %q", tt.target, e.RequestURI, tt.want)
			}
			if e.Method != http.MethodGet {
				t.Errorf("method %q", e.Method)
			}
		})
	}
}

func TestMethodsAndBodyForwarded(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("upstream says " + string(body)))
	}))
	t.Cleanup(up.Close)
	f := newFixture(t, routes, up.URL, nil)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req := f.request(t, m, "/api/x", http.Header{"X-Csrf": {"1"}})
		req.Body, req.ContentLength = io.NopCloser(strings.NewReader("hello")), 5
		res, err := f.front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusTeapot || string(body) != "upstream says hello" || res.Header.Get("X-Method") != m {
			t.Errorf("%s: got %d %q %q, want the upstream's 418 unchanged", m, res.StatusCode, res.Header.Get("X-Method"), body)
		}
	}
}

func TestMatch(t *testing.T) {
	up, _ := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	for path, want := range map[string]string{
		"/api/": "/api/", "/api": "/api/", "/api/x": "/api/", "/api/v2/x": "/api/v2/", "/api/v2": "/api/v2/", "/root": "/root/",
		"/": "", "/apix": "", "/ap": "", "/API/": "", "/other/api/": "",
		"/auth/login": "", "": "", "api/": "", "//api/": "",
	} {
		if got := f.proxy.Prefix(path); got != want {
			t.Errorf("Prefix(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestNotFound(t *testing.T) {
	up, hits := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	for _, target := range []string{"/", "/apix", "/API/x", "/other", "/auth/login", "//api/x", "/x/../api/x"} {
		res, body := f.get(t, target, nil)
		wantProblem(t, res, body, http.StatusNotFound)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream called %d times", n)
	}
	if n := f.tokens.calls.Load(); n != 0 {
		t.Errorf("Tokens called %d times for unrouted paths", n)
	}
}

func TestBadPath(t *testing.T) {
	up, hits := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	for _, target := range []string{
		"/api/../admin",
		"/api/..",
		"/api/./x",
		"/api/x/.",
		"/api//x",
		"/api/%2e%2e/admin",
		"/api/%2E%2E/admin",
		"/api/..%2Fadmin",
		"/api/..%2fadmin",
		"/api/%2e%2e%2fadmin",
		"/api/x/%2e%2e%2f%2e%2e%2fadmin",
		"/api/.%2e/admin",
		"/api/%2e/x",
		"/api/a%2F%2Fb",
		"/api/..\\admin",
		"/api/..%5Cadmin",
		"/api/x%00y",
		"/api/x%0Ay",
		"/api%2Fv2/x",
		"/api/v2%2Fx",
		"/%61pi/x",
		"/api%2F",
		// Dot segments behind path parameters, which servlet containers
		// resolve after dropping ";...".
		"/api/..;/admin",
		"/api/%2e%2e;/admin",
		"/api/%2E%2e;/admin",
		"/api/..%3b/admin",
		"/api/..%3B/admin",
		"/api/.%2e%3bjsessionid=x/admin",
		"/api/.;/admin",
		"/api/.;x=1/admin",
		"/api/x/..;y=2",
		"/api/;/admin",
		"/api/x/%3b",
	} {
		t.Run(target, func(t *testing.T) {
			res, body := f.get(t, target, nil)
			wantProblem(t, res, body, http.StatusBadRequest)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream called %d times", n)
	}
}

func TestRefusedMethodsAndUpgrades(t *testing.T) {
	up, hits := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	// Methods are case-sensitive, and an upstream may not think so: only
	// the seven an SPA's API calls use pass, exactly as spelled.
	for _, m := range []string{"TRACE", "trace", "Trace", "TRACK", "track", "get", "Post", "PROPFIND", "MKCOL", "COPY", "LOCK", "DEBUG", "FOO"} {
		res, body := f.do(t, m, "/api/x", http.Header{"X-Csrf": {"1"}})
		wantProblem(t, res, body, http.StatusMethodNotAllowed)
		if allow := res.Header.Get("Allow"); allow != allowedMethods {
			t.Errorf("%s: Allow %q", m, allow)
		}
	}

	// A client cannot easily send CONNECT for a path, so call the handler.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodConnect, "/api/x", nil)
	req.Header.Set("X-Csrf", "1")
	f.proxy.ServeHTTP(rec, req)
	wantProblem(t, rec.Result(), rec.Body.Bytes(), http.StatusMethodNotAllowed)

	res, body := f.get(t, "/api/x", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"h2c"}, "Origin": {testOrigin}})
	wantProblem(t, res, body, http.StatusBadRequest)
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream called %d times", n)
	}
}

func TestCSRF(t *testing.T) {
	up, hits := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	tests := []struct {
		name   string
		method string
		header http.Header
	}{
		{"GET without header", http.MethodGet, nil},
		{"POST without header", http.MethodPost, nil},
		{"OPTIONS preflight", http.MethodOptions, http.Header{"Access-Control-Request-Method": {"POST"}, "Origin": {"https://evil.test"}}},
		{"wrong value", http.MethodPost, http.Header{"X-Csrf": {"0"}}},
		{"empty value", http.MethodPost, http.Header{"X-Csrf": {""}}},
		{"true", http.MethodPost, http.Header{"X-Csrf": {"true"}}},
		{"other header", http.MethodPost, http.Header{"X-Csrf-Token": {"1"}}},
		{"same origin alone", http.MethodPost, http.Header{"Origin": {testOrigin}}},
		{"upgrade header alone", http.MethodGet, http.Header{"Upgrade": {"websocket"}, "Origin": {testOrigin}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := f.do(t, tt.method, "/api/x", tt.header)
			wantProblem(t, res, body, http.StatusForbidden)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream called %d times", n)
	}
	if n := f.tokens.calls.Load(); n != 0 {
		t.Errorf("Tokens called %d times before the CSRF check passed", n)
	}
}

func TestTokenError(t *testing.T) {
	errGone := errors.New("session gone")
	for _, tt := range []struct {
		name  string
		token string
		err   error
	}{
		{"error", "", errGone},
		{"error with a token", testToken, errGone},
		{"empty token", "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			up, hits := newEcho(t)
			var got error
			f := newFixture(t, routes, up.URL, func(c *Config) {
				c.TokenError = func(w http.ResponseWriter, err error) {
					got = err
					w.Header().Set("Retry-After", "5")
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			})
			f.tokens.token, f.tokens.err = tt.token, tt.err
			res, _ := f.get(t, "/api/x", nil)
			if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "5" {
				t.Errorf("status %d, want TokenError's 503", res.StatusCode)
			}
			if got == nil || (tt.err != nil && !errors.Is(got, tt.err)) {
				t.Errorf("TokenError got %v, want %v", got, tt.err)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("upstream called %d times", n)
			}
		})
	}
}

func TestDefaultTokenError(t *testing.T) {
	up, _ := newEcho(t)
	f := newFixture(t, routes, up.URL, func(c *Config) { c.TokenError = nil })
	f.tokens.err = errors.New("no session")
	res, body := f.get(t, "/api/x", nil)
	wantProblem(t, res, body, http.StatusUnauthorized)
}

func TestRequestHeaders(t *testing.T) {
	up, _ := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	res, body := f.get(t, "/api/x", http.Header{
		"Authorization":       {"Bearer from-the-browser"},
		"X-Forwarded-For":     {"6.6.6.6"},
		"X-Forwarded-Host":    {"evil.test"},
		"X-Forwarded-Proto":   {"gopher"},
		"X-Forwarded-Port":    {"6666"},
		"X-Forwarded-Prefix":  {"/admin"},
		"Forwarded":           {"for=6.6.6.6"},
		"X-Real-Ip":           {"6.6.6.6"},
		"True-Client-Ip":      {"6.6.6.6"},
		"X-Client-Ip":         {"6.6.6.6"},
		"Cf-Connecting-Ip":    {"6.6.6.6"},
		"Fastly-Client-Ip":    {"6.6.6.6"},
		"X-Cluster-Client-Ip": {"6.6.6.6"},
		"X-Original-Url":      {"/admin"},
		"X-Rewrite-Url":       {"/admin"},
		"X_forwarded_for":     {"6.6.6.6"},
		"X_real_ip":           {"6.6.6.6"},
		"X-forwarded_host":    {"evil.test"},
		"Accept":              {"application/json"},
		"X-Request-Id":        {"abc"},
		"Connection":          {"X-Hop"},
		"X-Hop":               {"1"},
	})
	e := decodeEcho(t, res, body)
	upHost := strings.TrimPrefix(up.URL, "http://")
	for _, c := range []struct{ name, got, want string }{
		{"Authorization", strings.Join(e.Header["Authorization"], ","), "Bearer " + testToken},
		{"X-Csrf", e.Header.Get("X-Csrf"), ""},
		{"X-Forwarded-For", strings.Join(e.Header["X-Forwarded-For"], ","), "127.0.0.1"},
		// From the public origin bff was configured with, whatever the
		// client's Host or bff's own connection.
		{"X-Forwarded-Host", strings.Join(e.Header["X-Forwarded-Host"], ","), "app.example.test"},
		{"X-Forwarded-Proto", strings.Join(e.Header["X-Forwarded-Proto"], ","), "https"},
		{"Host", e.Host, upHost},
		{"Accept", e.Header.Get("Accept"), "application/json"},
		{"X-Request-Id", e.Header.Get("X-Request-Id"), "abc"},
		{"X-Hop", e.Header.Get("X-Hop"), ""},
	} {
		if c.got != c.want {
			t.Errorf("upstream saw %s %q, want %q", c.name, c.got, c.want)
		}
	}
	for _, name := range []string{"X-Forwarded-Port", "X-Forwarded-Prefix", "Forwarded", "X-Real-Ip", "True-Client-Ip",
		"X-Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip", "X-Cluster-Client-Ip", "X-Original-Url", "X-Rewrite-Url", "X_forwarded_for", "X_real_ip", "X-Forwarded_host"} {
		if v, ok := e.Header[name]; ok {
			t.Errorf("the client's %s %q reached the upstream", name, v)
		}
	}
}

// TestClientAddr: X-Forwarded-For is the client as bff resolved it
// (through its trusted proxies), not what the client or a proxy wrote.
func TestClientAddr(t *testing.T) {
	up, _ := newEcho(t)
	f := newFixture(t, routes, up.URL, func(c *Config) {
		c.ClientAddr = func(*http.Request) netip.Addr { return netip.MustParseAddr("203.0.113.7") }
	})
	res, body := f.get(t, "/api/x", http.Header{"X-Forwarded-For": {"6.6.6.6, 10.0.0.1"}})
	if got := decodeEcho(t, res, body).Header["X-Forwarded-For"]; len(got) != 1 || got[0] != "203.0.113.7" {
		t.Errorf("upstream saw X-Forwarded-For %q, want the resolved client 203.0.113.7", got)
	}
}

func TestRequestCookies(t *testing.T) {
	up, _ := newEcho(t)
	f := newFixture(t, routes, up.URL, nil)
	tests := []struct {
		name    string
		cookies []string // Cookie header lines sent
		want    []string // Cookie header lines the upstream sees
	}{
		{"none", nil, nil},
		{"only others", []string{"theme=dark; other=1"}, []string{"theme=dark; other=1"}},
		{"others kept byte for byte", []string{`theme=dark;other="q v";  x=a=b`}, []string{`theme=dark;other="q v";  x=a=b`}},
		{"session stripped", []string{"__Host-bff-session=SEALED; theme=dark; other=1"}, []string{"theme=dark; other=1"}},
		{"chunks and login stripped", []string{"theme=dark; __Host-bff-session.0=A; __Host-bff-session.1=B; __Host-bff-login-xyz=L; other=1"}, []string{"theme=dark; other=1"}},
		{"only bff", []string{"__Host-bff-session=S; __Host-bff-login-xyz=L"}, nil},
		{"spaces around name", []string{" __Host-bff-session =S;theme=dark"}, []string{"theme=dark"}},
		{"similar names kept", []string{"__Host-bff-sessionx=1; bff-session=2"}, []string{"__Host-bff-sessionx=1; bff-session=2"}},
		{"several lines", []string{"theme=dark", "__Host-bff-session=S", "other=1"}, []string{"theme=dark; other=1"}},
		{"empty pairs", []string{"; theme=dark;; __Host-bff-session=S ;"}, []string{"theme=dark"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := f.echo(t, "/api/x", http.Header{"Cookie": tt.cookies})
			got := e.Header["Cookie"]
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") || len(got) != len(tt.want) {
				t.Errorf("upstream saw Cookie %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	good := Route{Prefix: "/api/", Upstream: mustURL(t, "http://a")}
	base := func() Config {
		return Config{Routes: []Route{good}, Tokens: &testTokens{}, OwnsCookie: ownsCookie, PublicOrigin: testOrigin}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no tokens", func(c *Config) { c.Tokens = nil }, "Tokens"},
		{"no OwnsCookie", func(c *Config) { c.OwnsCookie = nil }, "OwnsCookie"},
		{"no origin", func(c *Config) { c.PublicOrigin = "" }, "PublicOrigin"},
		{"relative origin", func(c *Config) { c.PublicOrigin = "app.example.test" }, "PublicOrigin"},
		{"nil upstream", func(c *Config) { c.Routes = []Route{{Prefix: "/x/"}} }, "route 1"},
		{"bad prefix", func(c *Config) { c.Routes = []Route{good, {Prefix: "/auth/", Upstream: good.Upstream}} }, "route 2"},
		{"duplicate", func(c *Config) { c.Routes = []Route{good, {Prefix: "/api", Upstream: good.Upstream}} }, "duplicate"},
		{"query upstream", func(c *Config) { c.Routes = []Route{{Prefix: "/x/", Upstream: mustURL(t, "http://a?b")}} }, "query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.mod(&cfg)
			if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := New(base()); err != nil {
		t.Errorf("New(good config): %v", err)
	}
}

func TestNoRoutes(t *testing.T) {
	p, err := New(Config{Tokens: &testTokens{}, OwnsCookie: ownsCookie, PublicOrigin: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/x", nil))
	wantProblem(t, rec.Result(), rec.Body.Bytes(), http.StatusNotFound)
}

// A Route built in code with url.URL.JoinPath on a bare origin has the
// relative path "v1"; it must still go out as an absolute path.
func TestRelativeUpstreamPath(t *testing.T) {
	up, _ := newEcho(t)
	base, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "", up.URL, func(c *Config) {
		c.Routes = []Route{{Prefix: "/api/", Upstream: base.JoinPath("v1")}}
	})
	if e := f.echo(t, "/api/x", nil); e.RequestURI != "/v1/x" {
		t.Errorf("upstream saw %q, want /v1/x", e.RequestURI)
	}
}
