package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"bff/cookie"
	"bff/demo/idp"
	"bff/oidc"
	"bff/proxy"
)

// answerBound is how long any request may take before it counts as a hang.
const answerBound = 15 * time.Second

// rigOptions shape a rig. The zero value is newStack's deployment with one
// replica.
type rigOptions struct {
	accessTTL   time.Duration
	reuse       time.Duration // the OP's refresh-token grace period
	exposeToken bool
	// opWrap sits in front of the OP, to make it slow or corrupt what it says.
	opWrap func(http.Handler) http.Handler
	// upstreams are extra routes: prefix to the handler of its upstream.
	upstreams map[string]http.Handler
	// dead are extra route prefixes whose upstream port refuses connections.
	dead []string
	// fast shortens bff's timeouts (IdP calls, upstream headers, request
	// headers and bodies) to fastTimeout, so a test can see them fire.
	fast bool
}

const fastTimeout = 2 * time.Second

// rig is newStack's deployment, except that its one replica runs on
// serve(), the production server path: raw bytes dialled at addr meet the
// http.Server limits production has (header size, header read timeout),
// which the httptest servers behind newStack's front do not.
type rig struct {
	*stack
	addr string // the replica's own listener
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	s := &stack{t: t, clock: &testClock{}, logs: &syncBuffer{}, seen: make(chan upstreamSaw, 1024)}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	s.upstream = httptest.NewServer(echoUpstream(s.seen))
	t.Cleanup(s.upstream.Close)
	s.front = httptest.NewUnstartedServer(nil)
	s.public = &url.URL{Scheme: "http", Host: s.front.Listener.Addr().String()}

	opMux := http.NewServeMux()
	var op http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opDown.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		opMux.ServeHTTP(w, r)
	})
	if o.opWrap != nil {
		op = o.opWrap(op)
	}
	opServer := httptest.NewServer(op)
	t.Cleanup(opServer.Close)
	s.opURL = opServer.URL + "/idp"
	secret := rand.Text()
	var err error
	s.op, err = idp.New(idp.Config{
		Issuer: s.opURL, ClientID: "bff", ClientSecret: secret,
		RedirectURIs:           []string{s.public.String() + "/auth/callback"},
		PostLogoutRedirectURIs: []string{s.public.String() + "/"},
		AccessTokenLifetime:    o.accessTTL,
		RefreshReuseInterval:   o.reuse,
	})
	if err != nil {
		t.Fatal(err)
	}
	opMux.Handle("/idp/", http.StripPrefix("/idp", s.op))

	key := make([]byte, cookie.KeySize)
	rand.Read(key)
	s.secrets = []string{secret, base64.RawURLEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(key)}
	keys, err := cookie.NewKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	routes := []proxy.Route{{Prefix: "/api/", Upstream: mustParseURL(t, s.upstream.URL+"/v1")}}
	for prefix, h := range o.upstreams {
		up := httptest.NewServer(h)
		t.Cleanup(up.Close)
		routes = append(routes, proxy.Route{Prefix: prefix, Upstream: mustParseURL(t, up.URL)})
	}
	for _, prefix := range o.dead {
		routes = append(routes, proxy.Route{Prefix: prefix, Upstream: mustParseURL(t, "http://"+closedPort(t))})
	}
	cfg := &Config{
		Issuer: s.opURL, ClientID: "bff", ClientSecret: secret, PublicURL: s.public, CookieKeys: keys,
		Routes:        routes,
		Scopes:        []string{"openid", "profile", "email", "offline_access"},
		SessionMaxAge: 12 * time.Hour, SessionIdle: time.Hour, ExposeToken: o.exposeToken,
	}
	r := &rig{stack: s}
	x := extras{now: s.clock.Now}
	if o.fast {
		x.idpTimeout, x.upstreamHeaderTimeout, x.bodyTimeout, x.readHeaderTimeout = fastTimeout, fastTimeout, fastTimeout, fastTimeout
	}
	r.addr = startServe(t, cfg, log.With("replica", 0), x)
	if err := waitReady(r.addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	backend := &url.URL{Scheme: "http", Host: r.addr}
	s.front.Config.Handler = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			pr.Out.Host = pr.In.Host
		},
	}
	s.front.Start()
	t.Cleanup(s.front.Close)
	s.client, s.jar = newTestBrowser(t)
	return r
}

// echoUpstream answers with the path it got and reports what it saw, as
// newStack's upstream does.
func echoUpstream(seen chan<- upstreamSaw) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw := upstreamSaw{
			Authorization: r.Header.Get("Authorization"), Cookie: r.Header.Get("Cookie"),
			Path: r.URL.Path, Query: r.URL.RawQuery, XFF: r.Header.Get("X-Forwarded-For"),
			XFHost: r.Header.Get("X-Forwarded-Host"), CSRF: r.Header.Get("X-CSRF"),
		}
		select {
		case seen <- saw:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"path": saw.Path, "ok": "yes"})
	})
}

// startServe runs serve() on a loopback port until the test ends and
// returns the address.
func startServe(t *testing.T, cfg *Config, log *slog.Logger, x extras) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	startServeOn(t, ln, cfg, log, x)
	return ln.Addr().String()
}

// startServeOn runs serve() on ln until the test ends.
func startServeOn(t *testing.T, ln net.Listener, cfg *Config, log *slog.Logger, x extras) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, cfg, log, x) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not shut down within 20 s")
		}
	})
}

// waitReady polls /readyz until it answers 200.
func waitReady(addr string, within time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	for {
		resp, err := c.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz not 200 within %v (last: %v)", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// rawReq is a request written byte for byte, so it can carry what
// net/http's client refuses to send: oversized or repeated headers,
// non-UTF-8 bytes, a Host of the sender's choosing.
type rawReq struct {
	method  string // GET when empty
	target  string
	headers []string // "Name: value" lines
	host    string   // the rig's public host when empty
	body    string
}

func (q rawReq) wire(host string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", cmp.Or(q.method, http.MethodGet), q.target, cmp.Or(q.host, host))
	for _, h := range q.headers {
		b.WriteString(h + "\r\n")
	}
	if q.body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(q.body))
	}
	b.WriteString("Connection: close\r\n\r\n" + q.body)
	return b.String()
}

// send writes q to the replica and reads one response within answerBound.
// A connection closed without an answer is an error: that is how a
// panicking handler looks from outside.
func (r *rig) send(t *testing.T, q rawReq) (response, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", r.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(answerBound))
	// A write error is no verdict: a server refusing an oversized header
	// may stop reading and answer before the client has finished.
	_, _ = io.WriteString(conn, q.wire(r.public.Host))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return response{}, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("answer cut short: %w", err)
	}
	return response{resp, string(b)}, nil
}

// mustSend is send for requests that must be answered.
func (r *rig) mustSend(t *testing.T, q rawReq) response {
	t.Helper()
	resp, err := r.send(t, q)
	if err != nil {
		t.Fatalf("%s %.80q: %v", cmp.Or(q.method, http.MethodGet), q.target, err)
	}
	return resp
}

// internalText is what no error body may contain: Go's and the
// libraries' own error strings say how bff is built, a trace says more.
var internalText = []string{
	"runtime error", "goroutine", "panic", "invalid character", "go-jose", "illegal base64",
	"oauth2:", "oidc:", "cookie:", "x509", "dial tcp", "connection refused", "unexpected EOF",
}

// forbidden is every string no response may carry: tokens the OP issued,
// the client secret and cookie key, and the sealed session values given.
func (r *rig) forbidden(extra ...string) []string {
	out := append(r.op.IssuedTokens(), r.secrets...)
	for _, e := range extra {
		if len(e) >= 16 {
			out = append(out, e)
		}
	}
	return out
}

// checkClean asserts what every answer to a hostile request must be:
// one of the wanted statuses (a 5xx only where the contract names one),
// problem+json when it is an error bff wrote, and nothing secret or
// internal in it.
// plain marks answers net/http writes itself, before any handler runs.
func checkClean(t *testing.T, resp response, forbidden []string, plain bool, want ...int) {
	t.Helper()
	if !slices.Contains(want, resp.StatusCode) {
		t.Errorf("status %d, want one of %v; body %.200q", resp.StatusCode, want, resp.body)
	}
	if resp.StatusCode >= 400 && !plain {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("error with Content-Type %q, want application/problem+json", ct)
		}
		var p struct {
			Status int    `json:"status"`
			Title  string `json:"title"`
		}
		if err := json.Unmarshal([]byte(resp.body), &p); err != nil || p.Status != resp.StatusCode || p.Title == "" {
			t.Errorf("error body is not a problem for %d: %.200q", resp.StatusCode, resp.body)
		}
	}
	if resp.StatusCode >= 400 {
		for _, s := range internalText {
			if strings.Contains(resp.body, s) {
				t.Errorf("error body contains internal text %q: %.200q", s, resp.body)
			}
		}
	}
	dump := dumpResponse(resp)
	for _, s := range forbidden {
		if strings.Contains(dump, s) {
			t.Errorf("response carries a token, secret or session value %.12q...", s)
		}
	}
}

// checkAlive asserts that bff still serves and never logged a panic.
func (r *rig) checkAlive(t *testing.T) {
	t.Helper()
	resp := r.mustSend(t, rawReq{target: "/healthz"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d after the hostile requests", resp.StatusCode)
	}
	if logs := r.logs.String(); strings.Contains(logs, "panic") {
		t.Errorf("bff logged a panic:\n%s", grepLines(logs, "panic"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// sessionPairs returns the browser's session cookies as name=value pairs,
// in chunk order, and the sealed value they join to.
func (r *rig) sessionPairs(t *testing.T) (pairs []string, sealed string) {
	t.Helper()
	cs := slices.DeleteFunc(r.jar.Cookies(r.public), func(c *http.Cookie) bool { return !strings.HasPrefix(c.Name, oidc.SessionCookie) })
	slices.SortFunc(cs, func(a, b *http.Cookie) int { return strings.Compare(a.Name, b.Name) })
	if len(cs) == 0 {
		t.Fatal("the browser has no session cookie")
	}
	for _, c := range cs {
		pairs = append(pairs, c.Name+"="+c.Value)
		sealed += c.Value
	}
	return pairs, sealed
}

// storesSession reports whether a response sets a session cookie, as
// opposed to expiring one.
func storesSession(resp response) bool {
	if resp.Response == nil {
		return false
	}
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, oidc.SessionCookie) && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}

func cookieLine(pairs ...string) string { return "Cookie: " + strings.Join(pairs, "; ") }

// chunkPairs is n session chunks .0, .1, ... each holding value.
func chunkPairs(n int, value string) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("%s.%d=%s", oidc.SessionCookie, i, value)
	}
	return out
}

func TestHostileRequests(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.login()
	pairs, sealed := r.sessionPairs(t)
	session := cookieLine(pairs...)
	half := len(sealed) / 2
	const csrf = "X-CSRF: 1"
	sess := oidc.SessionCookie
	wsHeaders := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}

	cases := []struct {
		name  string
		req   rawReq
		plain bool
		want  []int
	}{
		// Sizes. net/http refuses a header block over MaxHeaderBytes itself.
		{"cookie header over 64 KiB", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess + "=" + strings.Repeat("A", 80<<10))}}, true, []int{431}},
		{"cookie header just under 64 KiB of garbage", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess + "=" + strings.Repeat("x.Y-z_", 10<<10))}}, false, []int{401}},
		{"a 60 KiB JWE of garbage", rawReq{target: "/auth/session", headers: []string{csrf, cookieLine(sess + "=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoieCJ9..AAAAAAAAAAAAAAAA." + strings.Repeat("A", 60<<10) + ".AAAAAAAAAAAAAAAAAAAAAA")}}, false, []int{401}},
		{"ten chunks of garbage, 60 KB in all", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(chunkPairs(10, strings.Repeat("Q", 6000))...)}}, false, []int{401}},
		{"600 header lines", rawReq{target: "/api/x", headers: slices.Repeat([]string{"X-Junk: 1"}, 600)}, true, []int{400, 431}},
		{"a 60 KiB path", rawReq{target: "/api/" + strings.Repeat("a", 60<<10), headers: []string{csrf}}, false, []int{401}},

		// Chunk counts and indices.
		{"2000 session chunks", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(chunkPairs(2000, "A")...)}}, false, []int{401}},
		{"5001 session chunks, .0 to .5000", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(chunkPairs(5001, "A")...)}}, true, []int{431}},
		{"2000 chunks on the session endpoint", rawReq{target: "/auth/session", headers: []string{csrf, cookieLine(chunkPairs(2000, "A")...)}}, false, []int{401}},
		{"real session split into .0 and .1", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".1="+sealed[half:])}}, false, []int{200}},
		{"index .01", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".01="+sealed[half:])}}, false, []int{401}},
		{"index .-1", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+".-1="+sealed[:half], sess+".0="+sealed[half:])}}, false, []int{401}},
		{"index .+1", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".+1="+sealed[half:])}}, false, []int{401}},
		{"index .99999999999999999999", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".99999999999999999999="+sealed[half:])}}, false, []int{401}},
		{"index .10, past the chunk limit", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".10="+sealed[half:])}}, false, []int{401}},
		{"index .1 without .0", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess + ".1=" + sealed)}}, false, []int{401}},
		{"index .0x1", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".0x1="+sealed[half:])}}, false, []int{401}},
		{"real chunks and a stray .5", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".1="+sealed[half:], sess+".5=A")}}, false, []int{401}},
		{"single cookie beside chunks", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+"="+sealed, sess+".0="+sealed)}}, false, []int{401}},

		// Duplicates: the contract reads a name twice as a damaged cookie.
		{"the session twice in one line", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+"="+sealed, sess+"="+sealed)}}, false, []int{401}},
		{"the session in two Cookie lines", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess + "=" + sealed), cookieLine(sess + "=" + sealed)}}, false, []int{401}},
		{"garbage then the session", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+"=garbage", sess+"="+sealed)}}, false, []int{401}},
		{"the session then garbage", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess+"="+sealed, sess+"=garbage")}}, false, []int{401}},
		{"the session alone", rawReq{target: "/api/x", headers: []string{csrf, session}}, false, []int{200}},

		// Bytes that are not UTF-8.
		{"non-UTF-8 session value", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess + "=\xff\xfe\x80")}}, false, []int{401}},
		{"session with a byte flipped to 0x80", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(sess + "=" + sealed[:half] + "\x80" + sealed[half+1:])}}, false, []int{401}},
		{"non-UTF-8 neighbour cookie beside the session", rawReq{target: "/api/x", headers: []string{csrf, cookieLine(slices.Concat([]string{"\xff\xfe=\xc0\xaf"}, pairs)...)}}, false, []int{200}},
		{"non-UTF-8 returnTo, raw", rawReq{target: "/auth/login?returnTo=/\xff\xfe"}, false, []int{400}},
		{"non-UTF-8 returnTo, escaped", rawReq{target: "/auth/login?returnTo=/%ff%fe"}, false, []int{400}},
		{"non-UTF-8 callback query", rawReq{target: "/auth/callback?state=\xff\xfe&code=%ff"}, false, []int{400}},
		{"non-UTF-8 API path without session", rawReq{target: "/api/\xff\xfe", headers: []string{csrf}}, false, []int{401}},
		{"non-UTF-8 API path with session", rawReq{target: "/api/\xff%fe", headers: []string{csrf, session}}, false, []int{200, 400}},
		{"non-UTF-8 path outside the routes", rawReq{target: "/\xff\xfe"}, false, []int{404}},
		{"non-UTF-8 path under /auth/", rawReq{target: "/auth/\xff"}, false, []int{404}},
		{"non-UTF-8 X-CSRF", rawReq{target: "/api/x", headers: []string{"X-CSRF: \xff", session}}, false, []int{403}},
		{"non-UTF-8 logout sid", rawReq{target: "/auth/logout?sid=%ff\xfe", headers: []string{session}}, false, []int{400}},

		// Paths and framing.
		{"encoded dot segments", rawReq{target: "/api/%2e%2e/auth/session", headers: []string{csrf, session}}, false, []int{400}},
		{"encoded slash and dots", rawReq{target: "/api/..%2Fauth", headers: []string{csrf, session}}, false, []int{400}},
		{"NUL in the path", rawReq{target: "/api/x%00", headers: []string{csrf, session}}, false, []int{400}},
		{"NUL in a header", rawReq{target: "/api/x", headers: []string{csrf, "X-A: a\x00b"}}, true, []int{400}},
		{"two different Content-Lengths", rawReq{method: "POST", target: "/api/x", headers: []string{csrf, "Content-Length: 999"}, body: "{}"}, true, []int{400}},
		{"CONNECT", rawReq{method: "CONNECT", target: "evil.example:443"}, false, []int{400, 404, 405}},

		// Upgrades: a WebSocket is checked by Origin, anything else refused.
		{"WebSocket from another origin", rawReq{target: "/api/ws", headers: slices.Concat(wsHeaders, []string{"Origin: https://evil.example", session})}, false, []int{403}},
		{"WebSocket with Origin null", rawReq{target: "/api/ws", headers: slices.Concat(wsHeaders, []string{"Origin: null", session})}, false, []int{403}},
		{"WebSocket without Origin", rawReq{target: "/api/ws", headers: slices.Concat(wsHeaders, []string{session})}, false, []int{403}},
		{"WebSocket with two Origins", rawReq{target: "/api/ws", headers: slices.Concat(wsHeaders, []string{"Origin: " + r.public.String(), "Origin: https://evil.example", session})}, false, []int{403}},
		{"h2c upgrade", rawReq{target: "/api/x", headers: []string{csrf, session, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"}}, false, []int{400}},
	}
	forbidden := r.forbidden(sealed)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, err := r.send(t, tc.req)
			if err != nil {
				t.Fatalf("%v (after %v)", err, time.Since(start).Round(time.Millisecond))
			}
			checkClean(t, resp, forbidden, tc.plain, tc.want...)
			if resp.StatusCode >= 400 && storesSession(resp) {
				t.Error("a refused request stored a session")
			}
			// The contract: a logout whose sid does not match clears nothing.
			if strings.HasPrefix(tc.req.target, "/auth/logout") && len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("a refused logout touched cookies: %q", resp.Header.Values("Set-Cookie"))
			}
		})
	}
	r.checkAlive(t)
}

// TestHostileLoginCookiePileUp sends as many stale login-state cookies as
// the header limit allows. bff expires the surplus; the answer must stay
// small, as the session jar's is, or a load balancer with ordinary
// response-header buffers turns it into a 502.
func TestHostileLoginCookiePileUp(t *testing.T) {
	r := newRig(t, rigOptions{})
	var junk []string
	for i := 0; len(junk)*32 < 60<<10; i++ {
		junk = append(junk, fmt.Sprintf("__Host-bff-login-%04d=x", i))
	}
	resp := r.mustSend(t, rawReq{target: "/auth/login?returnTo=/", headers: []string{cookieLine(junk...)}})
	checkClean(t, resp, r.forbidden(), false, http.StatusFound)
	lines := resp.Header.Values("Set-Cookie")
	size := 0
	for _, l := range lines {
		size += len("Set-Cookie: ") + len(l) + 2
	}
	// The session jar stops at MaxChunks + 32 names; 64 lines is that bound
	// with room to spare.
	if len(lines) > 64 {
		t.Errorf("%d stale login cookies got %d Set-Cookie lines (%d KiB of response header), want at most 64",
			len(junk), len(lines), size>>10)
	}
	r.checkAlive(t)
}

// TestHostileMethods sends every method but GET to each /auth/ endpoint,
// and TRACE to the proxy, all carrying a live session and the CSRF header,
// so a method mix-up could reach a handler that acts on it.
func TestHostileMethods(t *testing.T) {
	r := newRig(t, rigOptions{exposeToken: true})
	r.login()
	pairs, sealed := r.sessionPairs(t)
	session := cookieLine(pairs...)
	forbidden := r.forbidden(sealed)
	r.drainSeen()

	for _, path := range []string{"/auth/login", "/auth/callback", "/auth/session", "/auth/logout", "/auth/token"} {
		for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
			t.Run(method+" "+path, func(t *testing.T) {
				resp := r.mustSend(t, rawReq{method: method, target: path + "?returnTo=/&sid=x", headers: []string{"X-CSRF: 1", session}, body: "returnTo=//evil.example"})
				checkClean(t, resp, forbidden, false, http.StatusMethodNotAllowed)
				if allow := resp.Header.Get("Allow"); resp.StatusCode == http.StatusMethodNotAllowed && allow != "GET" && allow != "GET, HEAD" {
					t.Errorf("Allow = %q", allow)
				}
				if len(resp.Header.Values("Set-Cookie")) != 0 {
					t.Errorf("a refused method touched cookies: %q", resp.Header.Values("Set-Cookie"))
				}
			})
		}
	}
	// TRACE would echo the request, Cookie header and all, if anything
	// answered it; scanners send it, so it must be a client error, not a
	// server one.
	for _, path := range []string{"/api/x", "/api", "/", "/healthz", "/auth/nope"} {
		t.Run("TRACE "+path, func(t *testing.T) {
			resp := r.mustSend(t, rawReq{method: "TRACE", target: path, headers: []string{"X-CSRF: 1", session, "X-Probe: trace-probe-value"}})
			checkClean(t, resp, forbidden, false, http.StatusMethodNotAllowed, http.StatusNotFound)
			if strings.Contains(dumpResponse(resp), "trace-probe-value") {
				t.Error("TRACE echoed the request")
			}
		})
	}
	// None of these may have reached the upstream.
	select {
	case saw := <-r.seen:
		t.Errorf("the upstream got %s", saw.Path)
	default:
	}
	r.checkAlive(t)
}

// TestHostileHostHeader checks that the redirect URI bff sends to the OP
// comes from BFF_PUBLIC_URL alone: a Host or X-Forwarded-Host of the
// client's choosing must not make the OP send the code elsewhere.
func TestHostileHostHeader(t *testing.T) {
	r := newRig(t, rigOptions{})
	want := r.public.String() + "/auth/callback"
	for _, tc := range []struct {
		name string
		req  rawReq
	}{
		{"Host", rawReq{target: "/auth/login", host: "evil.example"}},
		{"absolute-form target", rawReq{target: "http://evil.example/auth/login"}},
		{"X-Forwarded-Host", rawReq{target: "/auth/login", headers: []string{"X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "Forwarded: host=evil.example"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := r.mustSend(t, tc.req)
			checkClean(t, resp, r.forbidden(), false, http.StatusFound)
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), r.opURL+"/") {
				t.Fatalf("login redirected to %q, want the OP", resp.Header.Get("Location"))
			}
			if got := loc.Query().Get("redirect_uri"); got != want {
				t.Errorf("redirect_uri = %q, want %q", got, want)
			}
		})
	}
}

// TestHostileReturnTo tries the open-redirect payloads on /auth/login.
// Each is refused with 400, or, where it is a harmless local path, the
// whole login must end on this origin as both Go and a browser read the
// final Location.
func TestHostileReturnTo(t *testing.T) {
	r := newRig(t, rigOptions{})
	// Query values as sent on the wire, already escaped where the payload
	// is about escaping.
	refuse := []string{
		"%2F%2Fevil.com", "/%2F%2Fevil.com", "/%5Cevil.com", "%5C%5Cevil.com", "/%5C/evil.com", "%5C/%5C/evil.com",
		"//evil.com", "///evil.com", "//user@evil.com", "@evil.com", "evil.com",
		"javascript:alert(document.cookie)", "JaVaScRiPt:alert(1)", "data:text/html%3Bbase64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
		"https:evil.com", "https://evil.com", "HTTPS://evil.com", "https:/evil.com", "//evil.com@app.example",
		"/%09/evil.com", "/%0A/evil.com", "/%0D%0A/evil.com", "%09/evil.com", "%20/evil.com", "/%00",
		"%EF%BC%8F%EF%BC%8Fevil.com", // ／／evil.com, fullwidth solidus
		"/" + strings.Repeat("a", 5000),
		"/%ff",
	}
	mayAccept := []string{
		"/", "", "/home", "/%252F%252Fevil.com", // the literal text %2F: a path
		"/%20/evil.com", "/@evil.com", "/..//evil.com", "/.//evil.com", "/%EF%BC%8F%EF%BC%8Fevil.com",
		"/?next=//evil.com", "/#//evil.com", url.QueryEscape(noisyPath(2048)),
		"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", // the raw ';' drops the pair: returnTo is "/" "/a/../../evil.com", "/" + strings.Repeat("a", 2000),
	}
	for _, v := range refuse {
		t.Run("refuse "+truncateName(v), func(t *testing.T) {
			resp := r.mustSend(t, rawReq{target: "/auth/login?returnTo=" + v})
			checkClean(t, resp, r.forbidden(), false, http.StatusBadRequest)
			if len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Error("a refused returnTo set a cookie")
			}
		})
	}
	for _, v := range mayAccept {
		t.Run("local "+truncateName(v), func(t *testing.T) {
			resp := r.mustSend(t, rawReq{target: "/auth/login?returnTo=" + v})
			checkClean(t, resp, r.forbidden(), false, http.StatusFound, http.StatusBadRequest)
			if resp.StatusCode != http.StatusFound {
				return
			}
			a := attemptFrom(t, resp)
			cb := r.mustSend(t, rawReq{target: "/auth/callback?" + r.authorizeAt(t, a), headers: []string{cookieLine(a.pair())}})
			checkClean(t, cb, r.forbidden(), false, http.StatusFound)
			loc := cb.Header.Get("Location")
			if host := resolvedHost(r.public, loc); host != r.public.Host && host != "" {
				t.Errorf("returnTo %.80q: the login ends at %.80q, host %q as Go reads it", v, loc, host)
			}
			if host := browserHost(r.public, loc); host != r.public.Host {
				t.Errorf("returnTo %.80q: the login ends at %.80q, host %q as a browser reads it", v, loc, host)
			}
		})
	}
}

// noisyPath is a local path of n bytes that compresses badly and is full
// of what JSON escapes, the worst case for the login-state cookie, which
// must fit in one chunk.
func noisyPath(n int) string {
	const alphabet = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~<>&"
	rng := mrand.New(mrand.NewChaCha8([32]byte{1}))
	b := []byte{'/'}
	for len(b) < n {
		b = append(b, alphabet[rng.IntN(len(alphabet))])
	}
	return string(b)
}

func truncateName(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// resolvedHost is the host a Go client following loc from origin lands
// on; "" when Go cannot parse loc, so would not follow it.
func resolvedHost(origin *url.URL, loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	abs := origin.ResolveReference(u)
	if again, err := url.Parse(abs.String()); err != nil || again.Host != abs.Host {
		return "<reparses elsewhere: " + abs.String() + ">"
	}
	return abs.Host
}

// browserHost approximates the WHATWG URL parser: leading and trailing
// controls and spaces go, tabs and newlines anywhere go, a backslash is a
// slash; then a scheme or a leading "//" leaves the origin.
func browserHost(origin *url.URL, loc string) string {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= 0x20 })
	loc = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, loc)
	if i := strings.IndexAny(loc, ":/?#"); i > 0 && loc[i] == ':' {
		return "<scheme " + loc[:i] + ">"
	}
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
		return "<elsewhere: " + loc + ">"
	}
	if host := resolvedHost(origin, loc); host != "" {
		return host
	}
	return origin.Host // a path a browser keeps, bad escapes and all
}

// loginAttempt is a started login: bff's login-state cookie and the OP
// authorize URL it redirected to.
type loginAttempt struct {
	name, value string
	state       string
	authorize   string
}

func (a loginAttempt) pair() string { return a.name + "=" + a.value }

func attemptFrom(t *testing.T, resp response) loginAttempt {
	t.Helper()
	var a loginAttempt
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "__Host-bff-login-") && c.MaxAge > 0 {
			a.name, a.value = c.Name, c.Value
		}
	}
	a.authorize = resp.Header.Get("Location")
	u, err := url.Parse(a.authorize)
	if err != nil || a.name == "" {
		t.Fatalf("login gave no login cookie or a bad redirect %q", a.authorize)
	}
	a.state = u.Query().Get("state")
	return a
}

func (r *rig) startLogin(t *testing.T, returnTo string) loginAttempt {
	t.Helper()
	resp := r.mustSend(t, rawReq{target: "/auth/login?returnTo=" + url.QueryEscape(returnTo)})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.body)
	}
	return attemptFrom(t, resp)
}

// authorizeAt signs in at the OP for the attempt and returns the callback
// query the OP sent the browser back with.
func (r *rig) authorizeAt(t *testing.T, a loginAttempt) string {
	t.Helper()
	cb, err := idp.Login(context.Background(), r.client, a.authorize, "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	return u.RawQuery
}

// TestHostileLoginConfusion replays callbacks and swaps cookies between
// attempts and purposes. Every swap is refused without a session; each
// group ends with the genuine request succeeding, so the refusals are down
// to the swap.
func TestHostileLoginConfusion(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.login()
	_, sealed := r.sessionPairs(t)

	t.Run("callback replay", func(t *testing.T) {
		a := r.startLogin(t, "/one")
		q := r.authorizeAt(t, a)
		first := r.mustSend(t, rawReq{target: "/auth/callback?" + q, headers: []string{cookieLine(a.pair())}})
		checkClean(t, first, r.forbidden(), false, http.StatusFound)
		if !storesSession(first) {
			t.Fatal("the genuine callback stored no session")
		}
		// As the browser has it now: the login cookie was expired.
		again := r.mustSend(t, rawReq{target: "/auth/callback?" + q})
		checkClean(t, again, r.forbidden(), false, http.StatusBadRequest)
		// As an attacker who kept the login cookie has it: the state
		// passes, and the OP refuses the used code.
		replay := r.mustSend(t, rawReq{target: "/auth/callback?" + q, headers: []string{cookieLine(a.pair())}})
		checkClean(t, replay, r.forbidden(), false, http.StatusBadRequest)
		if storesSession(again) || storesSession(replay) {
			t.Error("a replayed callback stored a session")
		}
	})

	t.Run("state of one attempt, login cookie of another", func(t *testing.T) {
		a, b := r.startLogin(t, "/a"), r.startLogin(t, "/b")
		q := r.authorizeAt(t, a)
		before := r.op.Counts().AuthCodeGrants
		for name, pair := range map[string]string{
			"b's cookie under its own name": b.pair(),
			"b's cookie under a's name":     a.name + "=" + b.value,
			"a's name with no value":        a.name + "=",
		} {
			resp := r.mustSend(t, rawReq{target: "/auth/callback?" + q, headers: []string{cookieLine(pair)}})
			checkClean(t, resp, r.forbidden(b.value), false, http.StatusBadRequest)
			if storesSession(resp) {
				t.Errorf("%s: stored a session", name)
			}
		}
		if n := r.op.Counts().AuthCodeGrants - before; n != 0 {
			t.Errorf("the OP redeemed %d codes; a bad state must stop the callback before the exchange", n)
		}
		resp := r.mustSend(t, rawReq{target: "/auth/callback?" + q, headers: []string{cookieLine(a.pair())}})
		checkClean(t, resp, r.forbidden(), false, http.StatusFound)
		if !storesSession(resp) || resp.Header.Get("Location") != "/a" {
			t.Errorf("genuine callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("login-state cookie presented as the session", func(t *testing.T) {
		a := r.startLogin(t, "/")
		for _, path := range []string{"/auth/session", "/api/x", "/auth/token"} {
			resp := r.mustSend(t, rawReq{target: path, headers: []string{"X-CSRF: 1", cookieLine(oidc.SessionCookie + "=" + a.value)}})
			checkClean(t, resp, r.forbidden(a.value), false, http.StatusUnauthorized, http.StatusNotFound)
		}
	})

	t.Run("session cookie presented as a login cookie", func(t *testing.T) {
		c := r.startLogin(t, "/c")
		q := r.authorizeAt(t, c)
		resp := r.mustSend(t, rawReq{target: "/auth/callback?" + q, headers: []string{cookieLine(c.name + "=" + sealed)}})
		checkClean(t, resp, r.forbidden(sealed), false, http.StatusBadRequest)
		if storesSession(resp) {
			t.Error("stored a session")
		}
	})

	t.Run("login state past its lifetime", func(t *testing.T) {
		a := r.startLogin(t, "/late")
		q := r.authorizeAt(t, a)
		r.clock.Advance(11 * time.Minute)
		defer r.clock.Advance(-11 * time.Minute)
		resp := r.mustSend(t, rawReq{target: "/auth/callback?" + q, headers: []string{cookieLine(a.pair())}})
		checkClean(t, resp, r.forbidden(), false, http.StatusBadRequest)
		if storesSession(resp) {
			t.Error("stored a session")
		}
	})

	t.Run("session sealed under another deployment's key", func(t *testing.T) {
		now := r.clock.Now()
		forged := &oidc.Session{
			ID: "forged", Subject: "demo-user", AccessToken: "forged-access-token-0123456789",
			AccessExpiry: now.Add(time.Hour), Created: now, LastSeen: now,
		}
		plain, err := forged.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		ours, err := cookie.ParseKeys(r.secrets[1])
		if err != nil {
			t.Fatal(err)
		}
		otherKey := make([]byte, cookie.KeySize)
		rand.Read(otherKey)
		theirs, err := cookie.NewKeys(otherKey)
		if err != nil {
			t.Fatal(err)
		}
		foreign := mustSealWith(t, theirs, plain)
		// The other key, but our kid in the header: only the tag can tell.
		ourKid := ours.IDs()[0]
		posing := joseSealPosing(t, otherKey, ourKid, plain)
		for name, v := range map[string]string{"other kid": foreign, "our kid": posing} {
			for _, path := range []string{"/auth/session", "/api/x"} {
				resp := r.mustSend(t, rawReq{target: path, headers: []string{"X-CSRF: 1", cookieLine(oidc.SessionCookie + "=" + v)}})
				checkClean(t, resp, r.forbidden(v), false, http.StatusUnauthorized)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s: %d", name, path, resp.StatusCode)
				}
			}
		}
		// The same plaintext under our key is a session: the refusals above
		// were the key's doing.
		genuine := mustSealWith(t, ours, plain)
		resp := r.mustSend(t, rawReq{target: "/auth/session", headers: []string{"X-CSRF: 1", cookieLine(oidc.SessionCookie + "=" + genuine)}})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the forged session under our own key: %d, want 200", resp.StatusCode)
		}
	})
	r.checkAlive(t)
}

func mustSealWith(t *testing.T, k *cookie.Keys, plain []byte) string {
	t.Helper()
	v, err := k.Seal("session", plain)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// joseSealPosing seals plain as bff would, but under key while naming kid.
func joseSealPosing(t *testing.T, key []byte, kid string, plain []byte) string {
	t.Helper()
	opts := (&jose.EncrypterOptions{Compression: jose.DEFLATE}).WithHeader("bff", "session")
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.DIRECT, Key: key, KeyID: kid}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := enc.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHostileHeadersToUpstream checks what reaches the upstream when the
// client tries to choose it: the Authorization header is bff's, the
// forwarding headers are bff's, and no spelling of bff's cookies, however
// spaced or split, is passed on.
func TestHostileHeadersToUpstream(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.login()
	pairs, sealed := r.sessionPairs(t)
	login := r.startLogin(t, "/")
	cases := []struct {
		name    string
		headers []string
		cookie  string // what the upstream may see of Cookie
	}{
		{"own Authorization", []string{"Authorization: Bearer forged-by-the-client", cookieLine(slices.Concat(pairs, []string{"theme=dark"})...)}, "theme=dark"},
		{"forwarding headers", []string{"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil.example", "Forwarded: for=6.6.6.6;host=evil.example", cookieLine(slices.Concat(pairs, []string{"theme=dark"})...)}, "theme=dark"},
		// The client may declare headers hop-by-hop: Cookie goes, the
		// token bff adds afterwards must not.
		{"Connection names the token and the cookies", []string{"Connection: Authorization, Cookie, X-CSRF", cookieLine(slices.Concat(pairs, []string{"theme=dark"})...)}, ""},
		{"no space after the semicolon", []string{"Cookie: theme=dark;" + strings.Join(pairs, ";")}, "theme=dark"},
		{"tabs and spaces around names", []string{"Cookie: theme=dark;\t" + strings.Join(pairs, " ;  ")}, "theme=dark"},
		{"bff cookies in a second Cookie line", []string{"Cookie: theme=dark", cookieLine(pairs...)}, "theme=dark"},
		{"a login-state cookie beside", []string{cookieLine(slices.Concat([]string{"theme=dark", login.pair()}, pairs)...)}, "theme=dark"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.drainSeen()
			resp := r.mustSend(t, rawReq{target: "/api/x", headers: append([]string{"X-CSRF: 1"}, tc.headers...)})
			checkClean(t, resp, r.forbidden(sealed, login.value), false, http.StatusOK)
			var saw upstreamSaw
			select {
			case saw = <-r.seen:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream saw nothing")
			}
			tok, ok := strings.CutPrefix(saw.Authorization, "Bearer ")
			if !ok || !slices.Contains(r.op.IssuedTokens(), tok) {
				t.Errorf("upstream Authorization %.30q is not an access token the OP issued", saw.Authorization)
			}
			if saw.Cookie != tc.cookie {
				t.Errorf("upstream Cookie = %.80q, want %q", saw.Cookie, tc.cookie)
			}
			if strings.Contains(saw.XFF, "6.6.6.6") || saw.XFHost != r.public.Host || saw.CSRF != "" {
				t.Errorf("upstream X-Forwarded-For %q, X-Forwarded-Host %q, X-CSRF %q", saw.XFF, saw.XFHost, saw.CSRF)
			}
		})
	}
}
