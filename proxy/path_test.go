package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// roundTripFunc lets a test stand in for the upstream without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCleanPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/a": true, "/a/": true, "/a/b.c/..d/": true, "/a/...": true,
		"": false, "a": false, "//": false, "/a//b": false, "/.": false, "/..": false,
		"/a/./b": false, "/a/../b": false, "/a/..": false, "/a\\..\\b": false,
		"/a\\\\b": false, "/a\x00": false, "/a\x7f": false, "/a\tb": false, "\\a": false,
		"/a;b": true, "/a/b;jsessionid=1/c": true, "/a/..b;x": true, "/a/...;x": true,
		"/a/..;/b": false, "/a/.;/b": false, "/a/..;x=1/b": false, "/a/;/b": false, "/a/;": false,
		"/..;": false, "/a\\..;\\b": false, "/a/.;": false,
	} {
		if got := cleanPath(p); got != want {
			t.Errorf("cleanPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzForwardPath sends arbitrary request-URIs through ServeHTTP to a fake
// upstream. It must never panic or answer 500, and whatever it forwards
// must stay inside the route's upstream path, free of dot segments after
// decoding, with the query as the browser sent it.
func FuzzForwardPath(f *testing.F) {
	for _, s := range []string{
		"/api/x?q=1", "/api", "/api/", "/api/v2/x", "/root/a%2Fb", "/api/%2e%2e/admin",
		"/api/..%2Fadmin", "/api%2Fv2/x", "/api/a%00b", "/api/a%zzb", "/api/x?a=%zz;b", "*",
		"/api/caf%C3%A9", "/api/\\..\\x", "/root", "/api/%2E%2e%5cadmin",
		"/api/..;/admin", "/api/%2e%2e;/admin", "/api/..%3b/admin", "/api/.;/admin",
		"/api/%2E%2e%3B/admin", "/api/x;y/z", "/api/a;b=c/..%3Bd/e", "/root/;/x",
	} {
		f.Add(s)
	}
	var out *http.Request
	p, err := New(Config{
		Routes: []Route{
			{Prefix: "/api/", Upstream: mustURL(f, "http://up/v1")},
			{Prefix: "/api/v2/", Upstream: mustURL(f, "http://up/two/")},
			{Prefix: "/root/", Upstream: mustURL(f, "http://up")},
		},
		Tokens:       &testTokens{token: testToken},
		OwnsCookie:   ownsCookie,
		PublicOrigin: testOrigin,
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			out = r
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
		}),
	})
	if err != nil {
		f.Fatal(err)
	}
	bases := map[string]string{"/api/": "/v1", "/api/v2/": "/two", "/root/": ""}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		out = nil
		req := &http.Request{
			Method: http.MethodGet, URL: u, RequestURI: target, Host: "bff",
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, RemoteAddr: "192.0.2.1:1234",
			Header: http.Header{"X-Csrf": {"1"}}, Body: http.NoBody,
		}
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req.WithContext(t.Context()))
		if rec.Code >= 500 {
			t.Fatalf("%q: status %d", target, rec.Code)
		}
		if out == nil {
			if rec.Code == http.StatusOK {
				t.Fatalf("%q: 200 without reaching the upstream", target)
			}
			return
		}
		rt := p.match(u.Path)
		if rt == nil {
			t.Fatalf("%q forwarded without a route", target)
		}
		base := bases[rt.prefix]
		got := out.URL.Path
		if got != rt.upPath && !strings.HasPrefix(got, base+"/") {
			t.Fatalf("%q forwarded as %q, outside %q", target, got, base)
		}
		if !cleanPath(got) {
			t.Fatalf("%q forwarded as unclean %q", target, got)
		}
		// An upstream that resolves the path as a servlet container does
		// must still land inside the route's base.
		if resolved, ok := servletPath(got); !ok || (resolved != rt.upPath && !strings.HasPrefix(resolved, base+"/")) {
			t.Fatalf("%q forwarded as %q, which a servlet container resolves to %q, outside %q", target, got, resolved, base)
		}
		esc := out.URL.EscapedPath()
		if dec, err := url.PathUnescape(esc); err != nil || dec != got {
			t.Fatalf("%q: escaped path %q does not decode to %q", target, esc, got)
		}
		if !strings.HasPrefix(esc, base) {
			t.Fatalf("%q: escaped path %q outside %q", target, esc, base)
		}
		if out.URL.Host != "up" || out.Host != "" {
			t.Fatalf("%q sent to host %q (Host %q)", target, out.URL.Host, out.Host)
		}
		if q := out.URL.RawQuery; q != u.RawQuery && !strings.ContainsAny(u.RawQuery, ";%") {
			t.Fatalf("%q: query %q, want %q", target, q, u.RawQuery)
		}
	})
}

// servletPath resolves p as Tomcat, Jetty and Spring do: backslashes are
// separators, each segment loses its ";parameters", then "." and ".."
// segments are resolved. ok is false when ".." climbs above the root.
func servletPath(p string) (resolved string, ok bool) {
	var out []string
	segs := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' })
	for _, seg := range segs {
		seg, _, _ = strings.Cut(seg, ";")
		switch seg {
		case "", ".":
		case "..":
			if len(out) == 0 {
				return "", false
			}
			out = out[:len(out)-1]
		default:
			out = append(out, seg)
		}
	}
	resolved = "/" + strings.Join(out, "/")
	if strings.HasSuffix(p, "/") && len(out) > 0 {
		resolved += "/"
	}
	return resolved, true
}
