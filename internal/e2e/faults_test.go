package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
	"bff/internal/server"
)

// tryGet is a GET that reports failure instead of ending the test, for
// goroutines, which must not call t.Fatal.
func tryGet(c *http.Client, target string, headers ...string) (bfftest.Response, time.Duration, error) {
	start := time.Now()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return bfftest.Response{}, 0, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return bfftest.Response{}, time.Since(start), err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return bfftest.Response{Response: resp, Text: string(b)}, time.Since(start), err
}

// while applies wrap to the OP only while broken is true.
func while(broken *atomic.Bool, wrap func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		bad := wrap(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if broken.Load() {
				bad.ServeHTTP(w, r)
			} else {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// resetToken hangs up on the OP's token requests of one grant type.
func resetToken(grant string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if bfftest.OPEndpoint(r, "/oauth/token") && bfftest.GrantOf(r) == grant {
				resetConn(w)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// failEndpoint makes one OP endpoint answer 503.
func failEndpoint(rel string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if bfftest.OPEndpoint(r, rel) {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// flipSignature changes one character in the middle of a JWS signature.
func flipSignature(v any) any {
	tok, _ := v.(string)
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[2]) < 8 {
		return v
	}
	sig := []byte(parts[2])
	if i := len(sig) / 2; sig[i] == 'A' {
		sig[i] = 'B'
	} else {
		sig[i] = 'A'
	}
	return parts[0] + "." + parts[1] + "." + string(sig)
}

// resetConn hangs up without an HTTP answer, with a TCP reset.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// bigToken is random text too long to seal into the session cookie even
// after compression.
var bigToken = func() string {
	var b strings.Builder
	for b.Len() < 120_000 {
		b.WriteString(rand.Text())
	}
	return b.String()
}()

// TestFaultLoginIdPMisbehaves breaks the OP's token endpoint in the ways
// real IdPs and the networks in front of them break, during the code
// exchange. Each login must fail cleanly, with no session, and the next
// login on the same deployment, with the OP behaving again, must work.
func TestFaultLoginIdPMisbehaves(t *testing.T) {
	const code = "authorization_code"
	const idpDown, idpError = "idp_unavailable", "idp_error"
	cases := []struct {
		name string
		wrap func(http.Handler) http.Handler
		want []int
		code string // the callback's error code
	}{
		{"token endpoint answers 503", bfftest.AnswerToken(code, 503, "text/plain", "down"), []int{503}, idpDown},
		{"token endpoint answers 500 with an HTML page", bfftest.AnswerToken(code, 500, "text/html", "<html>Internal Server Error</html>"), []int{503}, idpDown},
		{"token endpoint rate-limits bff", bfftest.AnswerToken(code, 429, "application/json", `{"error":"too_many_requests"}`), []int{503}, idpDown},
		{"token endpoint times the request out", bfftest.AnswerToken(code, 408, "text/plain", "timeout"), []int{503}, idpDown},
		{"token endpoint answers 403", bfftest.AnswerToken(code, 403, "text/html", "<html>forbidden by a WAF</html>"), []int{503}, idpDown},
		{"token endpoint redirects", bfftest.AnswerToken(code, 302, "text/html", ""), []int{502}, idpError},
		{"token endpoint refuses the code", bfftest.AnswerToken(code, 400, "application/json", `{"error":"invalid_grant"}`), []int{400}, idpError},
		{"token endpoint refuses the client", bfftest.AnswerToken(code, 401, "application/json", `{"error":"invalid_client"}`), []int{400}, idpError},
		{"garbage JSON", bfftest.AnswerToken(code, 200, "application/json", `{"access_token": "x", "token_type": `), []int{502, 400}, idpError},
		{"an HTML page with 200", bfftest.AnswerToken(code, 200, "text/html", "<html>login</html>"), []int{502, 400}, idpError},
		{"an empty 200", bfftest.AnswerToken(code, 200, "application/json", ""), []int{502, 400}, idpError},
		{"JSON without an access token", bfftest.AnswerToken(code, 200, "application/json", `{"token_type":"Bearer"}`), []int{502, 400}, idpError},
		{"more than a megabyte of JSON", bfftest.AnswerToken(code, 200, "application/json", `{"access_token":"`+strings.Repeat("a", 2<<20)+`"}`), []int{502, 400}, idpError},
		{"no id_token", bfftest.RewriteToken(code, "id_token", func(any) any { return nil }), []int{502}, idpError},
		{"id_token not a JWT", bfftest.RewriteToken(code, "id_token", func(any) any { return "not-a-jwt" }), []int{502}, idpError},
		{"id_token with a bad signature", bfftest.RewriteToken(code, "id_token", flipSignature), []int{502}, idpError},
		{"the JWKS answers 503", failEndpoint("/keys"), []int{502, 503}, idpError},
		{"an access token too large to keep", bfftest.RewriteToken(code, "access_token", func(any) any { return bigToken }), []int{502}, "session_too_large"},
		{"connection reset", resetToken(code), []int{503}, idpDown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var broken atomic.Bool
			broken.Store(true)
			r := bfftest.NewStack(t, bfftest.StackOptions{OP: bfftest.OPOptions{Wrap: while(&broken, tc.wrap)}})
			resp := callbackAfterLogin(t, r)
			checkClean(t, resp, forbidden(r, bigToken), false, tc.want...)
			if got, _ := bfftest.CallbackCode(resp); got != tc.code {
				t.Errorf("callback error code %q, want %q", got, tc.code)
			}
			if storesSession(resp) {
				t.Error("a failed login stored a session")
			}
			if s := r.Get("/auth/session", "X-CSRF", "1"); s.StatusCode != http.StatusUnauthorized {
				t.Errorf("session after the failed login: %d", s.StatusCode)
			}
			broken.Store(false)
			r.Login()
			checkAlive(t, r)
		})
	}
	// With BFF_ERROR_URL the code travels in the redirect instead.
	t.Run("BFF_ERROR_URL", func(t *testing.T) {
		r := bfftest.NewStack(t, bfftest.StackOptions{
			Env: map[string]string{"BFF_ERROR_URL": "/signin-problem?lang=en"},
			OP:  bfftest.OPOptions{Wrap: bfftest.AnswerToken(code, 503, "text/plain", "down")},
		})
		resp := callbackAfterLogin(t, r)
		got, err := bfftest.CallbackCode(resp)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || err != nil || got != idpDown || !strings.HasPrefix(loc, "/signin-problem?") || !strings.Contains(loc, "lang=en") {
			t.Errorf("callback: %d to %q (%v), want 302 to /signin-problem?lang=en with error=%s", resp.StatusCode, loc, err, idpDown)
		}
		if storesSession(resp) {
			t.Error("a failed login stored a session")
		}
	})
}

// callbackAfterLogin starts a login through the front, signs in at the OP
// and returns bff's answer to the callback.
func callbackAfterLogin(t *testing.T, r *bfftest.Stack) bfftest.Response {
	t.Helper()
	start := r.Get("/auth/login?returnTo=/home")
	if start.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", start.StatusCode, start.Text)
	}
	return r.Get(r.OP.Login(t, r.Client, start.Header.Get("Location")).RequestURI())
}

// TestFaultUserinfoDown: userinfo only adds claims, so its failure costs
// those, not the login.
func TestFaultUserinfoDown(t *testing.T) {
	r := bfftest.NewStack(t, bfftest.StackOptions{OP: bfftest.OPOptions{Wrap: failEndpoint("/userinfo")}})
	r.Login()
	if s := r.Get("/auth/session", "X-CSRF", "1"); s.StatusCode != http.StatusOK {
		t.Fatalf("session: %d %s", s.StatusCode, s.Text)
	}
	if c := r.OP.Counts(); c.UserinfoCalls != 0 {
		t.Errorf("the wrapper let %d userinfo calls through", c.UserinfoCalls)
	}
}

// TestFaultRefreshIdPMisbehaves: a refresh that gets no usable answer
// leaves an expired session intact (503, cookie untouched), and the same
// cookie works once the IdP answers again.
func TestFaultRefreshIdPMisbehaves(t *testing.T) {
	const refresh = "refresh_token"
	cases := []struct {
		name string
		wrap func(http.Handler) http.Handler
	}{
		{"garbage JSON", bfftest.AnswerToken(refresh, 200, "application/json", "{garbage")},
		{"500", bfftest.AnswerToken(refresh, 500, "text/html", "<html>oops</html>")},
		{"id_token with a bad signature", bfftest.RewriteToken(refresh, "id_token", flipSignature)},
		{"connection reset", resetToken(refresh)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var broken atomic.Bool
			// A spoiled answer still rotated the refresh token at the OP, as
			// a response lost on the way does; the grace period the docs
			// require for replicas covers the retry.
			r := bfftest.NewStack(t, bfftest.StackOptions{OP: bfftest.OPOptions{Reuse: time.Minute, Wrap: while(&broken, tc.wrap)}})
			r.Login()
			broken.Store(true)
			r.Clock.Advance(2 * time.Minute)
			resp := r.API("/api/x")
			checkClean(t, resp, forbidden(r), false, http.StatusServiceUnavailable)
			if lines := resp.Header.Values("Set-Cookie"); len(lines) != 0 {
				t.Errorf("503 touched the cookie: %q", lines)
			}
			broken.Store(false)
			if resp := r.API("/api/x"); resp.StatusCode != http.StatusOK {
				t.Errorf("IdP back: %d, want 200 with the same cookie", resp.StatusCode)
			}
		})
	}
}

// TestFaultLogoutIdPDown: logout is the browser's way out; an IdP that
// cannot revoke must not keep the session alive or the browser stuck.
func TestFaultLogoutIdPDown(t *testing.T) {
	cases := []struct {
		name    string
		revoke  http.HandlerFunc // what the revocation endpoint does instead
		opDown  bool             // the whole OP answers 503
		outcome string           // bff_revocations_total's
	}{
		{"revocation answers 503", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}, false, "refused"},
		{"revocation resets the connection", func(w http.ResponseWriter, _ *http.Request) { resetConn(w) }, false, "failed"},
		{"the whole OP answers 503", nil, true, "refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var broken atomic.Bool
			metrics := kit.ClosedPort(t)
			r := bfftest.NewStack(t, bfftest.StackOptions{Env: map[string]string{"BFF_METRICS_LISTEN": metrics}, OP: bfftest.OPOptions{Wrap: func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					if broken.Load() && tc.revoke != nil && bfftest.OPEndpoint(req, "/revoke") {
						tc.revoke(w, req)
						return
					}
					next.ServeHTTP(w, req)
				})
			}}})
			r.Login()
			logout := r.LogoutURL()
			broken.Store(true)
			r.OP.Down.Store(tc.opDown)
			checkLogoutAnswer(t, r, r.Get(logout))
			if s := r.Get("/auth/session", "X-CSRF", "1"); s.StatusCode != http.StatusUnauthorized {
				t.Errorf("session after logout: %d", s.StatusCode)
			}
			if c := r.OP.Counts(); c.Revocations != 0 {
				t.Errorf("the OP revoked %d tokens; the fault did not hold", c.Revocations)
			}
			if !strings.Contains(r.Logs.String(), "logout: revoking refresh token failed") {
				t.Error("no log line says the revocation failed")
			}
			anon, _ := bfftest.NewClient(t)
			want := `bff_revocations_total{outcome="` + tc.outcome + `"} 1`
			if m := bfftest.Get(t, anon, "http://"+metrics, "/metrics").Text; !strings.Contains(m, want) {
				t.Errorf("/metrics does not say %s", want)
			}
		})
	}
}

// checkLogoutAnswer checks a finished logout: a redirect to the OP's
// end_session, every session chunk expired, and no token anywhere but the
// ID token in id_token_hint, which RP-initiated logout requires.
func checkLogoutAnswer(t *testing.T, r *bfftest.Stack, resp bfftest.Response) {
	t.Helper()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), r.OP.Issuer+"/") {
		t.Errorf("logout redirected to %.60q, want the OP's end_session", resp.Header.Get("Location"))
		return
	}
	q := loc.Query()
	q.Del("id_token_hint")
	loc.RawQuery = q.Encode()
	rest := bfftest.Response{Response: &http.Response{StatusCode: resp.StatusCode, Header: resp.Header.Clone()}, Text: resp.Text}
	rest.Header.Set("Location", loc.String())
	checkClean(t, rest, forbidden(r), false, http.StatusFound)
	if !bfftest.ExpiresSession(resp) {
		t.Errorf("session chunks not expired: %q", resp.Header.Values("Set-Cookie"))
	}
}

// TestFaultUpstream: an upstream that is not there, hangs up or talks
// nonsense is a 502 problem, and bff goes on serving.
func TestFaultUpstream(t *testing.T) {
	upstreams := map[string]http.Handler{
		"/reset/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { resetConn(w) }),
		"/close/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}),
		"/junk/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			io.WriteString(conn, "SSH-2.0-OpenSSH_9.6\r\n\r\n")
			conn.Close()
		}),
		"/cut/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, strings.Repeat("x", 1000))
			http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler) // hang up mid-body
		}),
	}
	r := bfftest.NewStack(t, bfftest.StackOptions{Routes: upstreams, Dead: []string{"/dead/"}})
	r.Login()
	for _, path := range []string{"/dead/x", "/reset/x", "/close/x", "/junk/x"} {
		t.Run(path, func(t *testing.T) {
			resp, _, err := tryGet(r.Client, r.Front.URL+path, "X-CSRF", "1")
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, resp, forbidden(r), false, http.StatusBadGateway)
			if strings.Contains(resp.Text, "127.0.0.1") {
				t.Errorf("the 502 names the upstream: %s", resp.Text)
			}
		})
	}
	t.Run("hang-up mid-body", func(t *testing.T) {
		// Straight at the replica: the front would turn a hang-up into its
		// own 502. Headers may be gone by then; what must never happen is
		// a cut body that ends as if it were whole.
		direct := &http.Client{Jar: r.Jar, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, _, err := tryGet(direct, "http://"+r.Addr()+"/cut/x", "X-CSRF", "1")
		if err == nil && resp.StatusCode == http.StatusOK {
			t.Fatalf("a cut upstream body ended cleanly after %d of 100000 bytes", len(resp.Text))
		}
		if err == nil {
			checkClean(t, resp, forbidden(r), false, http.StatusBadGateway)
		}
	})
	if resp := r.API("/api/after"); resp.StatusCode != http.StatusOK {
		t.Errorf("after the faults: %d", resp.StatusCode)
	}
	checkAlive(t, r)
}

// TestFaultStreamClientGone opens server-sent event streams through bff,
// drops them, and watches the upstream: each stream's request context must
// end, or every page reload would leave an upstream stream running.
func TestFaultStreamClientGone(t *testing.T) {
	const streams = 5
	gone := make(chan struct{}, streams)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	sse := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		rc := http.NewResponseController(w)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			rc.Flush()
			select {
			case <-r.Context().Done():
				gone <- struct{}{}
				return
			case <-release:
				return
			case <-tick.C:
			}
		}
	})
	r := bfftest.NewStack(t, bfftest.StackOptions{Routes: map[string]http.Handler{"/events/": sse}})
	r.Login()

	// Straight at the replica: the front would add a hop whose own
	// cancellation could hide bff's.
	direct := &http.Client{Jar: r.Jar, Transport: &http.Transport{}}
	t.Cleanup(direct.CloseIdleConnections)
	for i := range streams {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Addr()+"/events/stream", nil)
		req.Header.Set("X-CSRF", "1")
		resp, err := direct.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if resp.StatusCode != http.StatusOK || err != nil || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("stream %d: %d %q %v", i, resp.StatusCode, line, err)
		}
		cancel() // the tab closes
		resp.Body.Close()
	}
	for i := range streams {
		select {
		case <-gone:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d upstream streams still running 10 s after their clients left", streams-i, streams)
		}
	}
	if resp := r.API("/api/after"); resp.StatusCode != http.StatusOK {
		t.Errorf("after the dropped streams: %d", resp.StatusCode)
	}
	checkAlive(t, r)
}

// TestFaultIdPDownAtStartup starts bff while its IdP cannot answer and
// checks that it serves (healthz), is not ready, refuses logins with 503,
// and becomes ready by itself once the IdP is there, through Discover's
// retries as serve() runs them.
func TestFaultIdPDownAtStartup(t *testing.T) {
	cases := []struct {
		name string
		// away keeps the OP from answering in its own way and returns what
		// brings it back.
		away func(t *testing.T, op *httptest.Server, down *atomic.Bool) (back func())
	}{
		{"listener not serving yet", func(t *testing.T, op *httptest.Server, _ *atomic.Bool) func() {
			// Connections queue in the kernel's backlog: discovery waits
			// on an answer that comes only once the OP starts.
			return op.Start
		}},
		{"port refusing connections", func(t *testing.T, op *httptest.Server, _ *atomic.Bool) func() {
			addr := op.Listener.Addr().String()
			op.Listener.Close()
			return func() {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					t.Skipf("the OP's port was taken meanwhile: %v", err)
				}
				op.Listener = ln
				op.Start()
			}
		}},
		{"OP answers 503", func(t *testing.T, op *httptest.Server, down *atomic.Bool) func() {
			down.Store(true)
			op.Start()
			return func() { down.Store(false) }
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bffLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			public := &url.URL{Scheme: "http", Host: bffLn.Addr().String()}
			op := bfftest.StartOP(t, public, bfftest.OPOptions{Unstarted: true})
			issuer, secret := op.Issuer, op.ClientSecret
			back := tc.away(t, op.Server, &op.Down)
			srv, err := server.New(bfftest.Load(t, bfftest.Env(op, public, bfftest.NewKey(t))), slog.New(slog.DiscardHandler), server.Options{})
			if err != nil {
				t.Fatal(err)
			}
			bfftest.ServeOn(t, srv, bffLn)
			c := &http.Client{Timeout: bfftest.AnswerBound, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			base := public.String()

			// Long enough for discovery to have failed and retried.
			for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if resp, _, err := tryGet(c, base+"/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
					t.Fatalf("/readyz with the IdP away: %v %v, want 503", statusOf(resp), err)
				}
			}
			if resp, _, err := tryGet(c, base+"/healthz"); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz with the IdP away: %v %v, want 200", statusOf(resp), err)
			}
			resp, _, err := tryGet(c, base+"/auth/login?returnTo=/")
			if err != nil {
				t.Fatal(err)
			}
			checkClean(t, resp, []string{secret}, false, http.StatusServiceUnavailable)
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 before discovery without Retry-After")
			}

			back()
			began := time.Now()
			if err := bfftest.WaitReady(bffLn.Addr().String(), 25*time.Second); err != nil {
				t.Fatalf("after the IdP came up: %v", err)
			}
			t.Logf("ready %v after the IdP came up", time.Since(began).Round(10*time.Millisecond))
			resp, _, err = tryGet(c, base+"/auth/login?returnTo=/")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), issuer+"/") {
				t.Fatalf("login once ready: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func statusOf(r bfftest.Response) int {
	if r.Response == nil {
		return 0
	}
	return r.StatusCode
}

// slowResult is what one slow exchange came to, gathered in a goroutine
// and judged on the test's own.
type slowResult struct {
	resp bfftest.Response
	took time.Duration
	err  error
}

// TestFaultSlowDependencies lets each dependency hang past bff's own
// timeout, all at once so the suite waits for the longest only: the token
// endpoint during login and during refresh, the revocation endpoint during
// logout (idpTimeout, 10 s), an upstream that never sends headers (the
// transport's ResponseHeaderTimeout, 30 s), clients that never finish
// their headers (ReadHeaderTimeout, 10 s) and a client that never sends the
// body it announced. Every wait must end in a clean answer, or a closed
// connection for the clients, within its bound. The rigs run with bff's
// timeouts shortened to bfftest.FastTimeout, so the test takes seconds, not the
// production 10 to 30.
func TestFaultSlowDependencies(t *testing.T) {
	// Each timeout fires after bfftest.FastTimeout; the rest is slack for a busy machine.
	const slowBound = bfftest.FastTimeout + 3*time.Second
	release := make(chan struct{})
	hang := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	hangOn := func(rel, grant string, on *atomic.Bool) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if on.Load() && bfftest.OPEndpoint(r, rel) && (grant == "" || bfftest.GrantOf(r) == grant) {
					hang(r)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}

	var loginHangs, refreshHangs, revokeHangs atomic.Bool
	loginRig := bfftest.NewStack(t, bfftest.StackOptions{Server: server.Options{Timeouts: bfftest.FastTimeouts()}, OP: bfftest.OPOptions{Wrap: hangOn("/oauth/token", "authorization_code", &loginHangs)}})
	refreshRig := bfftest.NewStack(t, bfftest.StackOptions{Server: server.Options{Timeouts: bfftest.FastTimeouts()}, OP: bfftest.OPOptions{Wrap: hangOn("/oauth/token", "refresh_token", &refreshHangs)}})
	logoutRig := bfftest.NewStack(t, bfftest.StackOptions{Server: server.Options{Timeouts: bfftest.FastTimeouts()}, OP: bfftest.OPOptions{Wrap: hangOn("/revoke", "", &revokeHangs)}})
	upstreamGaveUp := make(chan struct{}, 1)
	upstreamRig := bfftest.NewStack(t, bfftest.StackOptions{Server: server.Options{Timeouts: bfftest.FastTimeouts()}, Routes: map[string]http.Handler{
		"/hang/": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hang(r)
			if r.Context().Err() != nil {
				upstreamGaveUp <- struct{}{}
			}
		}),
	}})
	// Released before the servers close, which wait for their handlers.
	t.Cleanup(func() { close(release) })

	// Set up each case on the test goroutine.
	start := loginRig.Get("/auth/login?returnTo=/home")
	cbURL := loginRig.OP.Login(t, loginRig.Client, start.Header.Get("Location"))
	loginHangs.Store(true)

	refreshRig.Login()
	refreshRig.Clock.Advance(2 * time.Minute)
	refreshHangs.Store(true)

	logoutRig.Login()
	logoutPath := logoutRig.LogoutURL()
	revokeHangs.Store(true)

	upstreamRig.Login()

	runs := map[string]func() slowResult{
		"login, token endpoint hangs": func() slowResult {
			resp, took, err := tryGet(loginRig.Client, loginRig.Front.URL+cbURL.RequestURI())
			return slowResult{resp, took, err}
		},
		"refresh, token endpoint hangs": func() slowResult {
			resp, took, err := tryGet(refreshRig.Client, refreshRig.Front.URL+"/api/x", "X-CSRF", "1")
			return slowResult{resp, took, err}
		},
		"logout, revocation hangs": func() slowResult {
			resp, took, err := tryGet(logoutRig.Client, logoutRig.Front.URL+logoutPath)
			return slowResult{resp, took, err}
		},
		"upstream sends no headers": func() slowResult {
			c := &http.Client{Jar: upstreamRig.Jar, Timeout: 60 * time.Second}
			resp, took, err := tryGet(c, upstreamRig.Front.URL+"/hang/x", "X-CSRF", "1")
			return slowResult{resp, took, err}
		},
		"client stops mid-header": func() slowResult {
			return slowClient(upstreamRig.Addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", false, false)
		},
		"client trickles its header": func() slowResult {
			return slowClient(upstreamRig.Addr(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", true, false)
		},
		// Headers complete, body promised and never sent: bff can refuse
		// without reading it, but net/http reads a small unread body
		// before it writes the answer, with no deadline of its own.
		"client never sends its body": func() slowResult {
			return slowClient(upstreamRig.Addr(), "POST /api/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", false, true)
		},
	}
	results := make(map[string]slowResult, len(runs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, run := range runs {
		wg.Go(func() {
			res := run()
			mu.Lock()
			results[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()

	check := func(name string, bound time.Duration, rg *bfftest.Stack, want int) slowResult {
		t.Helper()
		res := results[name]
		if res.err != nil {
			t.Errorf("%s: %v after %v", name, res.err, res.took.Round(time.Millisecond))
			return res
		}
		if res.took > bound {
			t.Errorf("%s: answered after %v, want within %v", name, res.took.Round(time.Millisecond), bound)
		}
		t.Logf("%s: %d after %v", name, res.resp.StatusCode, res.took.Round(10*time.Millisecond))
		checkClean(t, res.resp, forbidden(rg), false, want)
		return res
	}
	if res := check("login, token endpoint hangs", slowBound, loginRig, http.StatusServiceUnavailable); res.err == nil {
		if storesSession(res.resp) {
			t.Error("a timed-out login stored a session")
		}
		if code, _ := bfftest.CallbackCode(res.resp); code != "idp_unavailable" {
			t.Errorf("login, token endpoint hangs: error code %q, want idp_unavailable", code)
		}
	}
	if res := check("refresh, token endpoint hangs", slowBound, refreshRig, http.StatusServiceUnavailable); res.err == nil && len(res.resp.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("a timed-out refresh touched the cookie: %q", res.resp.Header.Values("Set-Cookie"))
	}
	if res := results["logout, revocation hangs"]; res.err != nil || res.took > slowBound {
		t.Errorf("logout, revocation hangs: %v after %v, want an answer within %v", res.err, res.took.Round(time.Millisecond), slowBound)
	} else {
		t.Logf("logout, revocation hangs: %d after %v", res.resp.StatusCode, res.took.Round(10*time.Millisecond))
		checkLogoutAnswer(t, logoutRig, res.resp)
	}
	check("upstream sends no headers", slowBound, upstreamRig, http.StatusBadGateway)
	select {
	case <-upstreamGaveUp:
	case <-time.After(5 * time.Second):
		t.Error("the hanging upstream's request was never cancelled")
	}
	for _, name := range []string{"client stops mid-header", "client trickles its header", "client never sends its body"} {
		res := results[name]
		switch {
		case res.err != nil:
			t.Errorf("%s: %v", name, res.err)
		case res.took > slowBound:
			t.Errorf("%s: connection open for %v, want closed within %v", name, res.took.Round(time.Millisecond), slowBound)
		default:
			t.Logf("%s: closed after %v", name, res.took.Round(10*time.Millisecond))
		}
	}

	// Each deployment is usable again once its dependency is.
	refreshHangs.Store(false)
	if resp := refreshRig.API("/api/x"); resp.StatusCode != http.StatusOK {
		t.Errorf("refresh once the IdP answers: %d, want 200 with the untouched cookie", resp.StatusCode)
	}
	loginHangs.Store(false)
	loginRig.Login()
	for _, rg := range []*bfftest.Stack{loginRig, refreshRig, logoutRig, upstreamRig} {
		checkAlive(t, rg)
	}
}

// slowClient opens a connection to addr and sends an unfinished request,
// prefix, all at once and then nothing, or followed by one byte at a time
// for ever. It reports how long the server kept the connection open, and
// an error if the server answered when it must not (answer false: the
// request line or headers are unfinished) or never let go.
func slowClient(addr, prefix string, trickle, answer bool) slowResult {
	began := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return slowResult{err: err}
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, prefix); err != nil {
		return slowResult{err: err}
	}
	if trickle {
		go func() {
			for {
				time.Sleep(200 * time.Millisecond)
				if _, err := conn.Write([]byte("a")); err != nil {
					return
				}
			}
		}()
	}
	conn.SetReadDeadline(time.Now().Add(2 * bfftest.AnswerBound))
	got, err := io.ReadAll(io.LimitReader(conn, 1))
	took := time.Since(began)
	var nerr net.Error
	switch {
	case errors.As(err, &nerr) && nerr.Timeout():
		return slowResult{took: took, err: fmt.Errorf("still open, unanswered, after %v", took.Round(time.Second))}
	case len(got) > 0 && !answer:
		rest, _ := io.ReadAll(io.LimitReader(conn, 60))
		if !strings.HasPrefix(string(got)+string(rest), "HTTP/1.1 408") {
			return slowResult{took: took, err: fmt.Errorf("answered an unfinished request: %.60q", string(got)+string(rest))}
		}
	}
	return slowResult{took: took}
}
