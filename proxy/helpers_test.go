package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"bff/internal/bfftest/kit"
	"bff/internal/problem"
)

const (
	testToken  = "tok-3c1d0a9e-never-log-me"
	testOrigin = "https://app.example.test"
)

// testTokens is a Tokens that hands out a fixed token or error and counts
// calls.
type testTokens struct {
	token string
	err   error
	calls atomic.Int32
	// setCookie, when set, is a Set-Cookie line written on the response,
	// as a refresh that reseals the session writes one.
	setCookie string
}

func (t *testTokens) AccessToken(w http.ResponseWriter, r *http.Request) (string, error) {
	t.calls.Add(1)
	if t.setCookie != "" {
		w.Header().Add("Set-Cookie", t.setCookie)
	}
	return t.token, t.err
}

// ownsCookie plays bff's cookie names: the chunked session and the login
// state.
func ownsCookie(name string) bool {
	return name == "__Host-bff-session" ||
		strings.HasPrefix(name, "__Host-bff-session.") ||
		strings.HasPrefix(name, "__Host-bff-login-")
}

// echoed is what the echo upstream saw.
type echoed struct {
	Method     string      `json:"method"`
	RequestURI string      `json:"requestURI"` // as on the wire
	Path       string      `json:"path"`
	RawQuery   string      `json:"rawQuery"`
	Host       string      `json:"host"`
	Header     http.Header `json:"header"`
}

// newEcho starts an upstream that answers every request with what it
// received, as JSON, and counts the requests.
func newEcho(t testing.TB) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{
			Method:     r.Method,
			RequestURI: r.RequestURI,
			Path:       r.URL.Path,
			RawQuery:   r.URL.RawQuery,
			Host:       r.Host,
			Header:     r.Header,
		})
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// fixture is a Proxy behind a real server, in front of upstreams.
type fixture struct {
	proxy  *Proxy
	front  *httptest.Server
	tokens *testTokens
	logs   *kit.Buffer
}

// newFixture builds a Proxy for routes (ParseRoutes syntax, with every
// "UP" replaced by upstream), lets mod adjust its Config, and serves it.
func newFixture(t testing.TB, routes, upstream string, mod func(*Config)) *fixture {
	t.Helper()
	rs, err := ParseRoutes(strings.ReplaceAll(routes, "UP", upstream))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{tokens: &testTokens{token: testToken}, logs: &kit.Buffer{}}
	cfg := Config{
		Routes: rs,
		Tokens: f.tokens,
		TokenError: func(w http.ResponseWriter, err error) {
			problem.Write(w, http.StatusUnauthorized, "Not signed in", "")
		},
		OwnsCookie:   ownsCookie,
		PublicOrigin: testOrigin,
		Logger:       slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	f.proxy, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.front = httptest.NewServer(f.proxy)
	t.Cleanup(f.front.Close)
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), testToken) {
			t.Errorf("the token reached the log:\n%s", f.logs)
		}
	})
	return f
}

// request builds a request to the front server for target, an exact
// request-URI that the client sends without normalising it.
func (f *fixture) request(t testing.TB, method, target string, header http.Header) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, f.front.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	path, query, _ := strings.Cut(target, "?")
	req.URL.Opaque, req.URL.RawQuery = path, query
	for k, vs := range header {
		req.Header[k] = vs
	}
	return req
}

// requestTo is a GET of target on another server in front of the proxy,
// passing the CSRF check.
func (f *fixture) requestTo(t testing.TB, base, target string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Csrf", "1")
	return req
}

// do sends a request and returns the response with its body read.
func (f *fixture) do(t testing.TB, method, target string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	res, err := f.front.Client().Do(f.request(t, method, target, header))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// get sends a GET that passes the CSRF check.
func (f *fixture) get(t testing.TB, target string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	h := http.Header{"X-Csrf": {"1"}}
	for k, vs := range header {
		h[k] = vs
	}
	return f.do(t, http.MethodGet, target, h)
}

// echo sends a GET that passes the CSRF check and returns what the echo
// upstream saw.
func (f *fixture) echo(t testing.TB, target string, header http.Header) echoed {
	t.Helper()
	res, body := f.get(t, target, header)
	return decodeEcho(t, res, body)
}

// decodeEcho parses the echo upstream's answer.
func decodeEcho(t testing.TB, res *http.Response, body []byte) echoed {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", res.StatusCode, body)
	}
	var e echoed
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("decode echo %q: %v", body, err)
	}
	return e
}

// wantProblem checks a problem+json response with the given status.
func wantProblem(t testing.TB, res *http.Response, body []byte, status int) problem.Details {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", res.StatusCode, status, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var d problem.Details
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("decode problem %q: %v", body, err)
	}
	if d.Status != status {
		t.Fatalf("problem status %d, want %d", d.Status, status)
	}
	if bytes.Contains(body, []byte(testToken)) {
		t.Fatalf("problem body contains the token: %s", body)
	}
	return d
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
