package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"bff/cookie"
	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
	"bff/internal/endpoint"
	"bff/oidc"
)

// internalText is what no error body may contain: Go's and the
// libraries' own error strings say how bff is built, a trace says more.
var internalText = []string{
	"runtime error", "goroutine", "panic", "invalid character", "go-jose", "illegal base64",
	"oauth2:", "oidc:", "cookie:", "x509", "dial tcp", "connection refused", "unexpected EOF",
}

// forbidden is every string no response may carry: tokens the OP issued,
// the client secret and cookie key, and the sealed session values given.
func forbidden(r *bfftest.Stack, extra ...string) []string {
	out := append(r.OP.IssuedTokens(), r.Secrets()...)
	for _, e := range extra {
		if len(e) >= 16 {
			out = append(out, e)
		}
	}
	return out
}

// checkClean asserts what every answer to a hostile request must be:
// one of the wanted statuses (a 5xx only where the contract names one),
// problem+json when it is an error bff wrote (the sign-in error page for
// the callback, which a person reads), and nothing secret or internal in
// it.
// plain marks answers net/http writes itself, before any handler runs.
func checkClean(t *testing.T, resp bfftest.Response, forbidden []string, plain bool, want ...int) {
	t.Helper()
	if !slices.Contains(want, resp.StatusCode) {
		t.Errorf("status %d, want one of %v; body %.200q", resp.StatusCode, want, resp.Text)
	}
	callback := resp.Request != nil && resp.Request.URL.Path == endpoint.Callback && resp.Request.Method == http.MethodGet
	if resp.StatusCode >= 400 && callback {
		// A person, not a script, reads what the callback says.
		if _, err := bfftest.CheckErrorPage(resp.Header, resp.Text); err != nil {
			t.Errorf("callback error page: %v", err)
		}
	} else if resp.StatusCode >= 400 && !plain {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("error with Content-Type %q, want application/problem+json", ct)
		}
		var p struct {
			Status int    `json:"status"`
			Title  string `json:"title"`
		}
		if err := json.Unmarshal([]byte(resp.Text), &p); err != nil || p.Status != resp.StatusCode || p.Title == "" {
			t.Errorf("error body is not a problem for %d: %.200q", resp.StatusCode, resp.Text)
		}
	}
	if resp.StatusCode >= 400 {
		for _, s := range internalText {
			if strings.Contains(resp.Text, s) {
				t.Errorf("error body contains internal text %q: %.200q", s, resp.Text)
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
func checkAlive(t *testing.T, r *bfftest.Stack) {
	t.Helper()
	resp := r.MustSend(bfftest.RawRequest{Target: "/healthz"})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d after the hostile requests", resp.StatusCode)
	}
	if logs := r.Logs.String(); strings.Contains(logs, "panic") {
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
func sessionPairs(t *testing.T, r *bfftest.Stack) (pairs []string, sealed string) {
	t.Helper()
	cs := r.SessionCookies()
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
func storesSession(resp bfftest.Response) bool {
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
	r := bfftest.NewStack(t, bfftest.StackOptions{})
	r.Login()
	pairs, sealed := sessionPairs(t, r)
	session := cookieLine(pairs...)
	half := len(sealed) / 2
	const csrf = "X-CSRF: 1"
	sess := oidc.SessionCookie
	wsHeaders := []string{"Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="}

	cases := []struct {
		name  string
		req   bfftest.RawRequest
		plain bool
		want  []int
	}{
		// Sizes. net/http refuses a header block over MaxHeaderBytes itself.
		{"cookie header over 64 KiB", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess + "=" + strings.Repeat("A", 80<<10))}}, true, []int{431}},
		{"cookie header just under 64 KiB of garbage", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess + "=" + strings.Repeat("x.Y-z_", 10<<10))}}, false, []int{401}},
		{"a 60 KiB JWE of garbage", bfftest.RawRequest{Target: "/auth/session", Headers: []string{csrf, cookieLine(sess + "=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoieCJ9..AAAAAAAAAAAAAAAA." + strings.Repeat("A", 60<<10) + ".AAAAAAAAAAAAAAAAAAAAAA")}}, false, []int{401}},
		{"ten chunks of garbage, 60 KB in all", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(chunkPairs(10, strings.Repeat("Q", 6000))...)}}, false, []int{401}},
		{"600 header lines", bfftest.RawRequest{Target: "/api/x", Headers: slices.Repeat([]string{"X-Junk: 1"}, 600)}, true, []int{400, 431}},
		{"a 60 KiB path", bfftest.RawRequest{Target: "/api/" + strings.Repeat("a", 60<<10), Headers: []string{csrf}}, false, []int{401}},

		// Chunk counts and indices.
		{"2000 session chunks", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(chunkPairs(2000, "A")...)}}, false, []int{401}},
		{"5001 session chunks, .0 to .5000", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(chunkPairs(5001, "A")...)}}, true, []int{431}},
		{"2000 chunks on the session endpoint", bfftest.RawRequest{Target: "/auth/session", Headers: []string{csrf, cookieLine(chunkPairs(2000, "A")...)}}, false, []int{401}},
		{"real session split into .0 and .1", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".1="+sealed[half:])}}, false, []int{200}},
		{"index .01", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".01="+sealed[half:])}}, false, []int{401}},
		{"index .-1", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+".-1="+sealed[:half], sess+".0="+sealed[half:])}}, false, []int{401}},
		{"index .+1", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".+1="+sealed[half:])}}, false, []int{401}},
		{"index .99999999999999999999", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".99999999999999999999="+sealed[half:])}}, false, []int{401}},
		{"index .10, past the chunk limit", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".10="+sealed[half:])}}, false, []int{401}},
		{"index .1 without .0", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess + ".1=" + sealed)}}, false, []int{401}},
		{"index .0x1", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".0x1="+sealed[half:])}}, false, []int{401}},
		{"real chunks and a stray .5", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+".0="+sealed[:half], sess+".1="+sealed[half:], sess+".5=A")}}, false, []int{401}},
		{"single cookie beside chunks", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+"="+sealed, sess+".0="+sealed)}}, false, []int{401}},

		// Duplicates: the contract reads a name twice as a damaged cookie.
		{"the session twice in one line", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+"="+sealed, sess+"="+sealed)}}, false, []int{401}},
		{"the session in two Cookie lines", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess + "=" + sealed), cookieLine(sess + "=" + sealed)}}, false, []int{401}},
		{"garbage then the session", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+"=garbage", sess+"="+sealed)}}, false, []int{401}},
		{"the session then garbage", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess+"="+sealed, sess+"=garbage")}}, false, []int{401}},
		{"the session alone", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, session}}, false, []int{200}},

		// Bytes that are not UTF-8.
		{"non-UTF-8 session value", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess + "=\xff\xfe\x80")}}, false, []int{401}},
		{"session with a byte flipped to 0x80", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(sess + "=" + sealed[:half] + "\x80" + sealed[half+1:])}}, false, []int{401}},
		{"non-UTF-8 neighbour cookie beside the session", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, cookieLine(slices.Concat([]string{"\xff\xfe=\xc0\xaf"}, pairs)...)}}, false, []int{200}},
		{"non-UTF-8 returnTo, raw", bfftest.RawRequest{Target: "/auth/login?returnTo=/\xff\xfe"}, false, []int{400}},
		{"non-UTF-8 returnTo, escaped", bfftest.RawRequest{Target: "/auth/login?returnTo=/%ff%fe"}, false, []int{400}},
		{"non-UTF-8 callback query", bfftest.RawRequest{Target: "/auth/callback?state=\xff\xfe&code=%ff"}, false, []int{400}},
		{"non-UTF-8 API path without session", bfftest.RawRequest{Target: "/api/\xff\xfe", Headers: []string{csrf}}, false, []int{401}},
		{"non-UTF-8 API path with session", bfftest.RawRequest{Target: "/api/\xff%fe", Headers: []string{csrf, session}}, false, []int{200, 400}},
		{"non-UTF-8 path outside the routes", bfftest.RawRequest{Target: "/\xff\xfe"}, false, []int{404}},
		{"non-UTF-8 path under /auth/", bfftest.RawRequest{Target: "/auth/\xff"}, false, []int{404}},
		{"non-UTF-8 X-CSRF", bfftest.RawRequest{Target: "/api/x", Headers: []string{"X-CSRF: \xff", session}}, false, []int{403}},
		{"non-UTF-8 logout sid", bfftest.RawRequest{Target: "/auth/logout?sid=%ff\xfe", Headers: []string{session}}, false, []int{400}},

		// Paths and framing.
		{"encoded dot segments", bfftest.RawRequest{Target: "/api/%2e%2e/auth/session", Headers: []string{csrf, session}}, false, []int{400}},
		{"encoded slash and dots", bfftest.RawRequest{Target: "/api/..%2Fauth", Headers: []string{csrf, session}}, false, []int{400}},
		{"NUL in the path", bfftest.RawRequest{Target: "/api/x%00", Headers: []string{csrf, session}}, false, []int{400}},
		{"NUL in a header", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, "X-A: a\x00b"}}, true, []int{400}},
		{"two different Content-Lengths", bfftest.RawRequest{Method: "POST", Target: "/api/x", Headers: []string{csrf, "Content-Length: 999"}, Body: "{}"}, true, []int{400}},
		{"CONNECT", bfftest.RawRequest{Method: "CONNECT", Target: "evil.example:443"}, false, []int{400, 404, 405}},

		// Upgrades: a WebSocket is checked by Origin, anything else refused.
		{"WebSocket from another origin", bfftest.RawRequest{Target: "/api/ws", Headers: slices.Concat(wsHeaders, []string{"Origin: https://evil.example", session})}, false, []int{403}},
		{"WebSocket with Origin null", bfftest.RawRequest{Target: "/api/ws", Headers: slices.Concat(wsHeaders, []string{"Origin: null", session})}, false, []int{403}},
		{"WebSocket without Origin", bfftest.RawRequest{Target: "/api/ws", Headers: slices.Concat(wsHeaders, []string{session})}, false, []int{403}},
		{"WebSocket with two Origins", bfftest.RawRequest{Target: "/api/ws", Headers: slices.Concat(wsHeaders, []string{"Origin: " + r.Public.String(), "Origin: https://evil.example", session})}, false, []int{403}},
		{"h2c upgrade", bfftest.RawRequest{Target: "/api/x", Headers: []string{csrf, session, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"}}, false, []int{400}},
	}
	forbidden := forbidden(r, sealed)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp, err := r.Send(tc.req)
			if err != nil {
				t.Fatalf("%v (after %v)", err, time.Since(start).Round(time.Millisecond))
			}
			checkClean(t, resp, forbidden, tc.plain, tc.want...)
			if resp.StatusCode >= 400 && storesSession(resp) {
				t.Error("a refused request stored a session")
			}
			// The contract: a logout whose sid does not match clears nothing.
			if strings.HasPrefix(tc.req.Target, "/auth/logout") && len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("a refused logout touched cookies: %q", resp.Header.Values("Set-Cookie"))
			}
		})
	}
	checkAlive(t, r)
}

// TestHostileLoginCookiePileUp sends as many stale login-state cookies as
// the header limit allows. bff expires the surplus; the answer must stay
// small, as the session jar's is, or a load balancer with ordinary
// response-header buffers turns it into a 502.
func TestHostileLoginCookiePileUp(t *testing.T) {
	r := bfftest.NewStack(t, bfftest.StackOptions{})
	var junk []string
	for i := 0; len(junk)*32 < 60<<10; i++ {
		junk = append(junk, fmt.Sprintf("__Host-bff-login-%04d=x", i))
	}
	resp := r.MustSend(bfftest.RawRequest{Target: "/auth/login?returnTo=/", Headers: []string{cookieLine(junk...)}})
	checkClean(t, resp, forbidden(r), false, http.StatusFound)
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
	checkAlive(t, r)
}

// TestHostileMethods sends every method but GET to each /auth/ endpoint,
// and TRACE to the proxy, all carrying a live session and the CSRF header,
// so a method mix-up could reach a handler that acts on it.
func TestHostileMethods(t *testing.T) {
	r := bfftest.NewStack(t, bfftest.StackOptions{Env: map[string]string{"BFF_EXPOSE_TOKEN": "true"}})
	r.Login()
	pairs, sealed := sessionPairs(t, r)
	session := cookieLine(pairs...)
	forbidden := forbidden(r, sealed)
	r.Upstream.Drain()

	for _, path := range []string{"/auth/login", "/auth/callback", "/auth/session", "/auth/logout", "/auth/token"} {
		for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
			t.Run(method+" "+path, func(t *testing.T) {
				resp := r.MustSend(bfftest.RawRequest{Method: method, Target: path + "?returnTo=/&sid=x", Headers: []string{"X-CSRF: 1", session}, Body: "returnTo=//evil.example"})
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
			resp := r.MustSend(bfftest.RawRequest{Method: "TRACE", Target: path, Headers: []string{"X-CSRF: 1", session, "X-Probe: trace-probe-value"}})
			checkClean(t, resp, forbidden, false, http.StatusMethodNotAllowed, http.StatusNotFound)
			if strings.Contains(dumpResponse(resp), "trace-probe-value") {
				t.Error("TRACE echoed the request")
			}
		})
	}
	// Methods are case-sensitive, but an upstream may not think so: the
	// proxy forwards only the seven methods an SPA uses, as spelled.
	for _, method := range []string{"trace", "Trace", "TRACK", "track", "get", "PROPFIND", "MKCOL", "DEBUG"} {
		t.Run(method+" /api/x", func(t *testing.T) {
			resp := r.MustSend(bfftest.RawRequest{Method: method, Target: "/api/x", Headers: []string{"X-CSRF: 1", session, "X-Probe: trace-probe-value"}})
			checkClean(t, resp, forbidden, false, http.StatusMethodNotAllowed)
			if strings.Contains(dumpResponse(resp), "trace-probe-value") {
				t.Errorf("%s echoed the request", method)
			}
		})
	}
	// None of these may have reached the upstream.
	if !r.Upstream.Nothing() {
		t.Errorf("the upstream got %s", r.Upstream.Last(t).Path)
	}
	checkAlive(t, r)
}

// TestHostileHostHeader checks that the redirect URI bff sends to the OP
// comes from BFF_PUBLIC_URL alone: a Host or X-Forwarded-Host of the
// client's choosing must not make the OP send the code elsewhere.
func TestHostileHostHeader(t *testing.T) {
	r := bfftest.NewStack(t, bfftest.StackOptions{})
	want := r.Public.String() + "/auth/callback"
	for _, tc := range []struct {
		name string
		req  bfftest.RawRequest
	}{
		{"Host", bfftest.RawRequest{Target: "/auth/login", Host: "evil.example"}},
		{"absolute-form target", bfftest.RawRequest{Target: "http://evil.example/auth/login"}},
		{"X-Forwarded-Host", bfftest.RawRequest{Target: "/auth/login", Headers: []string{"X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "Forwarded: host=evil.example"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := r.MustSend(tc.req)
			checkClean(t, resp, forbidden(r), false, http.StatusFound)
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), r.OP.Issuer+"/") {
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
	r := bfftest.NewStack(t, bfftest.StackOptions{})
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
			resp := r.MustSend(bfftest.RawRequest{Target: "/auth/login?returnTo=" + v})
			checkClean(t, resp, forbidden(r), false, http.StatusBadRequest)
			if len(resp.Header.Values("Set-Cookie")) != 0 {
				t.Error("a refused returnTo set a cookie")
			}
		})
	}
	for _, v := range mayAccept {
		t.Run("local "+truncateName(v), func(t *testing.T) {
			resp := r.MustSend(bfftest.RawRequest{Target: "/auth/login?returnTo=" + v})
			checkClean(t, resp, forbidden(r), false, http.StatusFound, http.StatusBadRequest)
			if resp.StatusCode != http.StatusFound {
				return
			}
			a := attemptFrom(t, resp)
			cb := r.MustSend(bfftest.RawRequest{Target: "/auth/callback?" + authorizeAt(t, r, a), Headers: []string{cookieLine(a.pair())}})
			checkClean(t, cb, forbidden(r), false, http.StatusFound)
			loc := cb.Header.Get("Location")
			if host := bfftest.ResolvedHost(r.Public, loc); host != r.Public.Host && host != "" {
				t.Errorf("returnTo %.80q: the login ends at %.80q, host %q as Go reads it", v, loc, host)
			}
			if host := bfftest.BrowserHost(r.Public, loc); host != r.Public.Host {
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

// loginAttempt is a started login: bff's login-state cookie and the OP
// authorize URL it redirected to.
type loginAttempt struct {
	name, value string
	state       string
	authorize   string
}

func (a loginAttempt) pair() string { return a.name + "=" + a.value }

func attemptFrom(t *testing.T, resp bfftest.Response) loginAttempt {
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

func startLogin(t *testing.T, r *bfftest.Stack, returnTo string) loginAttempt {
	t.Helper()
	resp := r.MustSend(bfftest.RawRequest{Target: "/auth/login?returnTo=" + url.QueryEscape(returnTo)})
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Text)
	}
	return attemptFrom(t, resp)
}

// authorizeAt signs in at the OP for the attempt and returns the callback
// query the OP sent the browser back with.
func authorizeAt(t *testing.T, r *bfftest.Stack, a loginAttempt) string {
	t.Helper()
	return r.OP.Login(t, r.Client, a.authorize).RawQuery
}

// TestHostileLoginConfusion replays callbacks and swaps cookies between
// attempts and purposes. Every swap is refused without a session; each
// group ends with the genuine request succeeding, so the refusals are down
// to the swap.
func TestHostileLoginConfusion(t *testing.T) {
	r := bfftest.NewStack(t, bfftest.StackOptions{})
	r.Login()
	_, sealed := sessionPairs(t, r)

	t.Run("callback replay", func(t *testing.T) {
		a := startLogin(t, r, "/one")
		q := authorizeAt(t, r, a)
		first := r.MustSend(bfftest.RawRequest{Target: "/auth/callback?" + q, Headers: []string{cookieLine(a.pair())}})
		checkClean(t, first, forbidden(r), false, http.StatusFound)
		if !storesSession(first) {
			t.Fatal("the genuine callback stored no session")
		}
		// As the browser has it now: the login cookie was expired.
		again := r.MustSend(bfftest.RawRequest{Target: "/auth/callback?" + q})
		checkClean(t, again, forbidden(r), false, http.StatusBadRequest)
		// As an attacker who kept the login cookie has it: the state
		// passes, and the OP refuses the used code.
		replay := r.MustSend(bfftest.RawRequest{Target: "/auth/callback?" + q, Headers: []string{cookieLine(a.pair())}})
		checkClean(t, replay, forbidden(r), false, http.StatusBadRequest)
		if storesSession(again) || storesSession(replay) {
			t.Error("a replayed callback stored a session")
		}
	})

	t.Run("state of one attempt, login cookie of another", func(t *testing.T) {
		a, b := startLogin(t, r, "/a"), startLogin(t, r, "/b")
		q := authorizeAt(t, r, a)
		before := r.OP.Counts().AuthCodeGrants
		for name, pair := range map[string]string{
			"b's cookie under its own name": b.pair(),
			"b's cookie under a's name":     a.name + "=" + b.value,
			"a's name with no value":        a.name + "=",
		} {
			resp := r.MustSend(bfftest.RawRequest{Target: "/auth/callback?" + q, Headers: []string{cookieLine(pair)}})
			checkClean(t, resp, forbidden(r, b.value), false, http.StatusBadRequest)
			if storesSession(resp) {
				t.Errorf("%s: stored a session", name)
			}
		}
		if n := r.OP.Counts().AuthCodeGrants - before; n != 0 {
			t.Errorf("the OP redeemed %d codes; a bad state must stop the callback before the exchange", n)
		}
		resp := r.MustSend(bfftest.RawRequest{Target: "/auth/callback?" + q, Headers: []string{cookieLine(a.pair())}})
		checkClean(t, resp, forbidden(r), false, http.StatusFound)
		if !storesSession(resp) || resp.Header.Get("Location") != "/a" {
			t.Errorf("genuine callback: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("login-state cookie presented as the session", func(t *testing.T) {
		a := startLogin(t, r, "/")
		for _, path := range []string{"/auth/session", "/api/x", "/auth/token"} {
			resp := r.MustSend(bfftest.RawRequest{Target: path, Headers: []string{"X-CSRF: 1", cookieLine(oidc.SessionCookie + "=" + a.value)}})
			checkClean(t, resp, forbidden(r, a.value), false, http.StatusUnauthorized, http.StatusNotFound)
		}
	})

	t.Run("session cookie presented as a login cookie", func(t *testing.T) {
		c := startLogin(t, r, "/c")
		q := authorizeAt(t, r, c)
		resp := r.MustSend(bfftest.RawRequest{Target: "/auth/callback?" + q, Headers: []string{cookieLine(c.name + "=" + sealed)}})
		checkClean(t, resp, forbidden(r, sealed), false, http.StatusBadRequest)
		if storesSession(resp) {
			t.Error("stored a session")
		}
	})

	t.Run("login state past its lifetime", func(t *testing.T) {
		a := startLogin(t, r, "/late")
		q := authorizeAt(t, r, a)
		r.Clock.Advance(11 * time.Minute)
		defer r.Clock.Advance(-11 * time.Minute)
		resp := r.MustSend(bfftest.RawRequest{Target: "/auth/callback?" + q, Headers: []string{cookieLine(a.pair())}})
		checkClean(t, resp, forbidden(r), false, http.StatusBadRequest)
		if storesSession(resp) {
			t.Error("stored a session")
		}
	})

	t.Run("session sealed under another deployment's key", func(t *testing.T) {
		now := r.Clock.Now()
		forged := &oidc.Session{
			ID: "forged", Subject: "demo-user", AccessToken: "forged-access-token-0123456789",
			AccessExpiry: now.Add(time.Hour), Created: now, LastSeen: now,
		}
		plain, err := forged.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		ours, err := cookie.ParseKeys(r.Secrets()[1])
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
		posing := kit.JOSESeal(t, jose.DIRECT, jose.A256GCM, otherKey, ourKid, "session", plain)
		for name, v := range map[string]string{"other kid": foreign, "our kid": posing} {
			for _, path := range []string{"/auth/session", "/api/x"} {
				resp := r.MustSend(bfftest.RawRequest{Target: path, Headers: []string{"X-CSRF: 1", cookieLine(oidc.SessionCookie + "=" + v)}})
				checkClean(t, resp, forbidden(r, v), false, http.StatusUnauthorized)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s: %d", name, path, resp.StatusCode)
				}
			}
		}
		// The same plaintext under our key is a session: the refusals above
		// were the key's doing.
		genuine := mustSealWith(t, ours, plain)
		resp := r.MustSend(bfftest.RawRequest{Target: "/auth/session", Headers: []string{"X-CSRF: 1", cookieLine(oidc.SessionCookie + "=" + genuine)}})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the forged session under our own key: %d, want 200", resp.StatusCode)
		}
	})
	checkAlive(t, r)
}

func mustSealWith(t *testing.T, k *cookie.Keys, plain []byte) string {
	t.Helper()
	v, err := k.Seal("session", plain)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHostileHeadersToUpstream checks what reaches the upstream when the
// client tries to choose it: the Authorization header is bff's, the
// forwarding headers are bff's, and no spelling of bff's cookies, however
// spaced or split, is passed on.
func TestHostileHeadersToUpstream(t *testing.T) {
	r := bfftest.NewStack(t, bfftest.StackOptions{})
	r.Login()
	pairs, sealed := sessionPairs(t, r)
	login := startLogin(t, r, "/")
	cases := []struct {
		name    string
		headers []string
		cookie  string // what the upstream may see of Cookie
	}{
		{"own Authorization", []string{"Authorization: Bearer forged-by-the-client", cookieLine(slices.Concat(pairs, []string{"theme=dark"})...)}, "theme=dark"},
		{"forwarding headers", []string{"X-Forwarded-For: 6.6.6.6", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: gopher",
			"X-Forwarded-Port: 6666", "X-Forwarded-Prefix: /admin", "Forwarded: for=6.6.6.6;host=evil.example",
			"X-Real-IP: 6.6.6.6", "True-Client-IP: 6.6.6.6", "X-Client-IP: 6.6.6.6", "CF-Connecting-IP: 6.6.6.6",
			"Fastly-Client-IP: 6.6.6.6", "X-Cluster-Client-IP: 6.6.6.6", "X-Original-URL: /admin", "X-Rewrite-URL: /admin",
			cookieLine(slices.Concat(pairs, []string{"theme=dark"})...)}, "theme=dark"},
		// CGI-style stacks (Rack, WSGI) read "_" as "-".
		{"underscore spellings", []string{"X_Forwarded_For: 6.6.6.6", "X_forwarded_host: evil.example", "X_Real_IP: 6.6.6.6",
			"Cf_Connecting_Ip: 6.6.6.6", "X_Original_URL: /admin", "X-Forwarded_Prefix: /admin",
			cookieLine(slices.Concat(pairs, []string{"theme=dark"})...)}, "theme=dark"},
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
			r.Upstream.Drain()
			resp := r.MustSend(bfftest.RawRequest{Target: "/api/x", Headers: append([]string{"X-CSRF: 1"}, tc.headers...)})
			checkClean(t, resp, forbidden(r, sealed, login.value), false, http.StatusOK)
			saw := r.Upstream.Last(t)
			tok, ok := strings.CutPrefix(saw.Authorization, "Bearer ")
			if !ok || !slices.Contains(r.OP.IssuedTokens(), tok) {
				t.Errorf("upstream Authorization %.30q is not an access token the OP issued", saw.Authorization)
			}
			if saw.Cookie != tc.cookie {
				t.Errorf("upstream Cookie = %.80q, want %q", saw.Cookie, tc.cookie)
			}
			if saw.XFF != "127.0.0.1" || saw.XFHost != r.Public.Host || saw.Header.Get("X-Forwarded-Proto") != "http" || saw.CSRF != "" {
				t.Errorf("upstream X-Forwarded-For %q, -Host %q, -Proto %q, X-CSRF %q; want the client, the public host and scheme, no X-CSRF",
					saw.XFF, saw.XFHost, saw.Header.Get("X-Forwarded-Proto"), saw.CSRF)
			}
			for name, values := range saw.Header {
				if slices.ContainsFunc(values, func(v string) bool {
					return strings.Contains(v, "6.6.6.6") || strings.Contains(v, "evil.example") || v == "/admin"
				}) {
					t.Errorf("the client's %s %q reached the upstream", name, values)
				}
			}
		})
	}
	// A Host of the client's choosing does not become X-Forwarded-Host.
	t.Run("a client's Host", func(t *testing.T) {
		r.Upstream.Drain()
		resp := r.MustSend(bfftest.RawRequest{Target: "/api/x", Host: "evil.example", Headers: []string{"X-CSRF: 1", cookieLine(pairs...)}})
		checkClean(t, resp, forbidden(r, sealed), false, http.StatusOK)
		if saw := r.Upstream.Last(t); saw.XFHost != r.Public.Host {
			t.Errorf("upstream X-Forwarded-Host %q, want the public host %q", saw.XFHost, r.Public.Host)
		}
	})
}

// TestHostileTrustedProxies: X-Forwarded-For to the upstream is the client
// as resolved through BFF_TRUSTED_PROXIES: the right-most address that a
// trusted proxy vouches for, never what the client wrote at the left.
func TestHostileTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		trusted string
		xff     string
		want    string
	}{
		{"", "6.6.6.6, 198.51.100.7", "127.0.0.1"},
		{"127.0.0.0/8", "6.6.6.6, 198.51.100.7", "198.51.100.7"},
		{"127.0.0.0/8, 10.0.0.0/8", "6.6.6.6, 198.51.100.7, 10.1.2.3", "198.51.100.7"},
		{"127.0.0.0/8", "", "127.0.0.1"},
	} {
		t.Run(tc.trusted+" "+tc.xff, func(t *testing.T) {
			env := map[string]string{}
			if tc.trusted != "" {
				env["BFF_TRUSTED_PROXIES"] = tc.trusted
			}
			r := bfftest.NewStack(t, bfftest.StackOptions{Env: env})
			r.Login()
			pairs, _ := sessionPairs(t, r)
			headers := []string{"X-CSRF: 1", cookieLine(pairs...)}
			if tc.xff != "" {
				headers = append(headers, "X-Forwarded-For: "+tc.xff)
			}
			r.Upstream.Drain()
			r.MustSend(bfftest.RawRequest{Target: "/api/x", Headers: headers})
			if saw := r.Upstream.Last(t); saw.XFF != tc.want {
				t.Errorf("upstream X-Forwarded-For %q, want %q", saw.XFF, tc.want)
			}
		})
	}
}

// TestHostilePathParameters: dot segments behind path parameters, which
// Tomcat, Jetty and Spring resolve after dropping ";...", are refused
// before anything is forwarded.
func TestHostilePathParameters(t *testing.T) {
	r := bfftest.NewStack(t, bfftest.StackOptions{})
	r.Login()
	pairs, sealed := sessionPairs(t, r)
	r.Upstream.Drain()
	for _, target := range []string{
		"/api/..;/admin", "/api/%2e%2e;/admin", "/api/..%3b/admin", "/api/.;/admin",
		"/api/%2E%2e%3B/admin", "/api/.%2E;jsessionid=1/admin", "/api/x/..;x=1/..;/admin",
		"/api/;/admin", "/api/x/%3b", "/api/..;", "/api/%2e;%2fadmin",
		// Plain dot and empty segments, which http.ServeMux would clean
		// and redirect before the proxy saw them.
		"/api/../admin", "/api/./x", "/api//x", "/api/x/..",
	} {
		resp := r.MustSend(bfftest.RawRequest{Target: target, Headers: []string{"X-CSRF: 1", cookieLine(pairs...)}})
		checkClean(t, resp, forbidden(r, sealed), false, http.StatusBadRequest)
	}
	if !r.Upstream.Nothing() {
		t.Errorf("the upstream got %s", r.Upstream.Last(t).Path)
	}
	// A path parameter on a plain name is the upstream's business.
	if resp := r.MustSend(bfftest.RawRequest{Target: "/api/orders;v=2/7", Headers: []string{"X-CSRF: 1", cookieLine(pairs...)}}); resp.StatusCode != http.StatusOK {
		t.Errorf("/api/orders;v=2/7: %d, want 200", resp.StatusCode)
	}
	checkAlive(t, r)
}
