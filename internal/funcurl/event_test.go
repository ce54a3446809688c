package funcurl

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// event is a function URL event as AWS sends one, changed by each of edits.
func event(t testing.TB, edits ...func(ev map[string]any)) []byte {
	t.Helper()
	ev := map[string]any{
		"version":        "2.0",
		"rawPath":        "/api/orders/7",
		"rawQueryString": "q=1&r=%2F",
		"cookies":        []any{"theme=dark", "__Host-bff-session=abc"},
		"headers": map[string]any{
			"host":              "f3xkq2lbd5ylwqs7.lambda-url.eu-west-1.on.aws",
			"x-csrf":            "1",
			"accept":            "application/json,text/plain",
			"x-forwarded-for":   "198.51.100.23",
			"x-forwarded-proto": "https",
			"content-length":    "999",
		},
		"requestContext": map[string]any{
			"domainName": "f3xkq2lbd5ylwqs7.lambda-url.eu-west-1.on.aws",
			"http":       map[string]any{"method": "POST", "path": "/api/orders/7", "sourceIp": "198.51.100.23"},
		},
		"body":            "aGVsbG8AAf8=",
		"isBase64Encoded": true,
	}
	for _, e := range edits {
		e(ev)
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func set(key string, v any) func(map[string]any) {
	return func(ev map[string]any) { ev[key] = v }
}

func setHTTP(key string, v any) func(map[string]any) {
	return func(ev map[string]any) { ev["requestContext"].(map[string]any)["http"].(map[string]any)[key] = v }
}

func setHeader(key string, v any) func(map[string]any) {
	return func(ev map[string]any) { ev["headers"].(map[string]any)[key] = v }
}

func TestRequest(t *testing.T) {
	r, err := Request(context.Background(), event(t))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	for _, c := range []struct{ what, got, want string }{
		{"method", r.Method, "POST"},
		{"target", r.RequestURI, "/api/orders/7?q=1&r=%2F"},
		{"path", r.URL.Path, "/api/orders/7"},
		{"query", r.URL.RawQuery, "q=1&r=%2F"},
		{"host", r.Host, "f3xkq2lbd5ylwqs7.lambda-url.eu-west-1.on.aws"},
		{"Host header", r.Header.Get("Host"), ""},
		{"peer", r.RemoteAddr, "198.51.100.23:0"},
		{"X-Forwarded-For", strings.Join(r.Header.Values("X-Forwarded-For"), "|"), ""},
		{"Cookie", r.Header.Get("Cookie"), "theme=dark; __Host-bff-session=abc"},
		{"X-CSRF", r.Header.Get("X-Csrf"), "1"},
		{"Accept", r.Header.Get("Accept"), "application/json,text/plain"},
		{"body", string(body), "hello\x00\x01\xff"},
		{"Content-Length", r.Header.Get("Content-Length"), "8"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if r.ContentLength != 8 || r.Context() == nil {
		t.Errorf("ContentLength %d, want 8", r.ContentLength)
	}
}

func TestRequestVariants(t *testing.T) {
	for _, c := range []struct {
		name  string
		edits []func(map[string]any)
		check func(t *testing.T, got gotRequest)
	}{
		{"plain body", []func(map[string]any){set("body", `{"a":"ü"}`), set("isBase64Encoded", false)}, func(t *testing.T, g gotRequest) {
			g.want(t, "body", g.body, `{"a":"ü"}`)
			g.want(t, "length", g.length, "10")
		}},
		{"no body", []func(map[string]any){set("body", ""), set("isBase64Encoded", false), setHTTP("method", "GET")}, func(t *testing.T, g gotRequest) {
			g.want(t, "length", g.length, "0")
			g.want(t, "Content-Length", g.Header.Get("Content-Length"), "")
		}},
		{"domain only", []func(map[string]any){set("rawPath", ""), set("rawQueryString", "")}, func(t *testing.T, g gotRequest) {
			g.want(t, "target", g.RequestURI, "/")
		}},
		{"escaped path kept", []func(map[string]any){set("rawPath", "/api/a%2Fb/%2e%2e/c")}, func(t *testing.T, g gotRequest) {
			g.want(t, "escaped path", g.URL.EscapedPath(), "/api/a%2Fb/%2e%2e/c")
		}},
		{"IPv6 source", []func(map[string]any){setHTTP("sourceIp", "2001:db8::7"), setHeader("x-forwarded-for", "2001:db8::7")}, func(t *testing.T, g gotRequest) {
			g.want(t, "peer", g.RemoteAddr, "[2001:db8::7]:0")
			g.want(t, "X-Forwarded-For", g.Header.Get("X-Forwarded-For"), "")
		}},
		{"IPv4-mapped source", []func(map[string]any){setHTTP("sourceIp", "::ffff:198.51.100.23")}, func(t *testing.T, g gotRequest) {
			g.want(t, "peer", g.RemoteAddr, "198.51.100.23:0")
			g.want(t, "X-Forwarded-For", g.Header.Get("X-Forwarded-For"), "")
		}},
		{"client's own X-Forwarded-For kept", []func(map[string]any){setHeader("x-forwarded-for", "10.9.9.9, 203.0.113.5,198.51.100.23")}, func(t *testing.T, g gotRequest) {
			g.want(t, "X-Forwarded-For", g.Header.Get("X-Forwarded-For"), "10.9.9.9, 203.0.113.5")
		}},
		{"front end's hop absent", []func(map[string]any){setHeader("x-forwarded-for", "203.0.113.5")}, func(t *testing.T, g gotRequest) {
			g.want(t, "X-Forwarded-For", g.Header.Get("X-Forwarded-For"), "203.0.113.5")
		}},
		{"cookie header and cookies", []func(map[string]any){setHeader("cookie", "a=1")}, func(t *testing.T, g gotRequest) {
			g.want(t, "Cookie", g.Header.Get("Cookie"), "a=1; theme=dark; __Host-bff-session=abc")
		}},
		{"no Host header", []func(map[string]any){func(ev map[string]any) { delete(ev["headers"].(map[string]any), "host") }}, func(t *testing.T, g gotRequest) {
			g.want(t, "host", g.Host, "f3xkq2lbd5ylwqs7.lambda-url.eu-west-1.on.aws")
		}},
		{"chunked claimed", []func(map[string]any){setHeader("transfer-encoding", "chunked")}, func(t *testing.T, g gotRequest) {
			g.want(t, "Transfer-Encoding", g.Header.Get("Transfer-Encoding"), "")
			g.want(t, "length", g.length, "8")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Request(context.Background(), event(t, c.edits...))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			c.check(t, gotRequest{r, string(b), strconv.FormatInt(r.ContentLength, 10)})
		})
	}
}

func TestRequestRefused(t *testing.T) {
	for name, payload := range map[string][]byte{
		"not JSON":              []byte("GET / HTTP/1.1"),
		"array":                 []byte(`[]`),
		"empty":                 []byte(`{}`),
		"null":                  []byte(`null`),
		"headers not strings":   event(t, set("headers", map[string]any{"a": 1})),
		"no method":             event(t, setHTTP("method", "")),
		"method with a space":   event(t, setHTTP("method", "GET /x")),
		"no sourceIp":           event(t, setHTTP("sourceIp", "")),
		"sourceIp with a port":  event(t, setHTTP("sourceIp", "198.51.100.23:443")),
		"sourceIp with a zone":  event(t, setHTTP("sourceIp", "fe80::1%eth0")),
		"relative path":         event(t, set("rawPath", "api")),
		"absolute URL":          event(t, set("rawPath", "http://evil.example/")),
		"space in path":         event(t, set("rawPath", "/a b")),
		"NUL in path":           event(t, set("rawPath", "/a\x00")),
		"CRLF in query":         event(t, set("rawQueryString", "a\r\nb")),
		"CRLF in a header":      event(t, setHeader("x-a", "1\r\nX-Injected: 1")),
		"NUL in a header":       event(t, setHeader("x-a", "1\x00")),
		"header name with ':'":  event(t, setHeader("x:a", "1")),
		"empty header name":     event(t, setHeader("", "1")),
		"CRLF in a cookie":      event(t, set("cookies", []any{"a=1\r\nX: 1"})),
		"base64 body that isnt": event(t, set("body", "%%%")),
	} {
		if r, err := Request(context.Background(), payload); err == nil {
			t.Errorf("%s: accepted as %s %s", name, r.Method, r.RequestURI)
		}
	}
}

// gotRequest is a decoded request, with its body read and its length.
type gotRequest struct {
	*http.Request
	body, length string
}

func (gotRequest) want(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
