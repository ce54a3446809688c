// Package workerd runs bff's Cloudflare Worker build — the ./worker
// package compiled to WebAssembly and started by
// deploy/cloudflare/worker.mjs, as wrangler deploys them — in workerd,
// the open-source Workers runtime installed from npm by
// .ci/install-workerd, and drives whole sessions through it against the
// in-process OP and a recording upstream. Every call the Worker makes goes
// through workerd's fetch, whose network here reaches loopback only.
package workerd

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"bff/demo/idp"
	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
)

// largeUser is the demo user with a long, incompressible name: its claims
// make the sealed session span more than one cookie chunk.
func largeUser() idp.User {
	u := idp.DemoUser()
	var name strings.Builder
	for name.Len() < 3000 {
		name.WriteString(rand.Text())
	}
	u.Name = name.String()
	return u
}

// TestWorkerFlow signs in, reads the session, calls the API, has the
// access token refreshed after it expired and logs out, all through the
// Worker in workerd, and checks every Set-Cookie line and that no token or
// secret reaches the browser or the Worker's logs.
func TestWorkerFlow(t *testing.T) {
	w := startRig(t, RigOptions{OP: bfftest.OPOptions{Users: []idp.User{largeUser()}}})
	op, up, public := w.OP, w.Upstream, w.Public
	t.Logf("bff.wasm: %d bytes, %d gzip-compressed", w.Build.WasmBytes, w.Build.WasmGzipBytes)
	// Cloudflare's limits: 10 MB compressed on Workers Paid, 64 MiB before
	// compression (docs/edge.md). A dependency that pushes the module past
	// them would make the Worker undeployable.
	if w.Build.WasmGzipBytes > 10_000_000 || w.Build.WasmBytes > 64<<20 {
		t.Errorf("bff.wasm is %d bytes, %d compressed: over the Workers Paid limits", w.Build.WasmBytes, w.Build.WasmGzipBytes)
	}
	t.Logf("workerd listening %v after exec", w.Started.Round(time.Millisecond))

	client, jar := bfftest.NewClient(t)
	var seen []bfftest.Response
	get := func(target string, headers ...string) bfftest.Response {
		t.Helper()
		r := bfftest.Get(t, client, w.URL, target, headers...)
		seen = append(seen, r)
		return r
	}
	api := func(path string) bfftest.Response {
		t.Helper()
		return get(path, "X-CSRF", "1", "CF-Connecting-IP", "203.0.113.7")
	}

	// The isolate's first requests, three logins at once (three tabs):
	// the first starts Go, reads the bindings and loads the discovery
	// document while the others wait for it.
	cpu, _ := w.CPU()
	start := time.Now()
	logins := bfftest.Burst(t, client, 3, w.URL, "/auth/login?returnTo=/home")
	took := time.Since(start)
	if used, ok := cpu.Since(w.Workerd, 1); ok {
		t.Logf("cold start: first requests (3 logins at once) answered in %v; workerd CPU %v", took.Round(time.Millisecond), used)
	}
	seen = append(seen, logins...)
	for _, l := range logins {
		if l.StatusCode != http.StatusFound || !strings.HasPrefix(l.Header.Get("Location"), op.Issuer) {
			t.Fatalf("login: %d %q %s\nworkerd:\n%s", l.StatusCode, l.Header.Get("Location"), l.Text, w.Stderr.String())
		}
	}
	login := logins[0]
	cb := op.Login(t, client, login.Header.Get("Location"))
	done := get(cb.RequestURI())
	if done.StatusCode != http.StatusFound || done.Header.Get("Location") != "/home" {
		t.Fatalf("callback: %d %q %s", done.StatusCode, done.Header.Get("Location"), done.Text)
	}
	chunks := sessionChunks(t, "callback", done)

	session := get("/auth/session", "X-CSRF", "1")
	var info struct {
		Sub       string `json:"sub"`
		LogoutURL string `json:"logoutUrl"`
	}
	if session.StatusCode != http.StatusOK || json.Unmarshal([]byte(session.Text), &info) != nil || info.Sub != idp.DemoUser().Subject {
		t.Fatalf("session: %d %s", session.StatusCode, session.Text)
	}

	first := api("/api/orders/7?q=1")
	if first.StatusCode != http.StatusOK {
		t.Fatalf("api: %d %s", first.StatusCode, first.Text)
	}
	saw := up.Last(t)
	checkForwarded(t, op, saw)
	if c := op.Counts(); c.RefreshGrants != 0 {
		t.Fatalf("refresh grants before expiry = %d, want 0", c.RefreshGrants)
	}
	measureWarm(t, w.Workerd, client)
	up.Drain()

	// Past the access token's expiry (one minute at the demo OP).
	if r := bfftest.Get(t, client, w.URL, "/__clock?advance="+strconv.Itoa(int((2*time.Minute).Milliseconds()))); r.StatusCode != http.StatusOK {
		t.Fatalf("moving the Worker's clock: %d %s", r.StatusCode, r.Text)
	}
	// Four calls at once carry the expired session, as a page's parallel
	// calls would: one refresh at the OP, and every call proxied with its
	// result, although the three that wait are woken by the event of the
	// one that refreshed.
	expired := []string{"X-CSRF", "1", "CF-Connecting-IP", "203.0.113.7", "Cookie", cookieHeader(jar.Cookies(public))}
	plain, _ := bfftest.NewClient(t)
	plain.Jar = nil
	burst := bfftest.Burst(t, plain, 4, w.URL, "/api/orders/8", expired...)
	seen = append(seen, burst...)
	var tokens []string
	for i, r := range burst {
		if r.StatusCode != http.StatusOK {
			t.Fatalf("call %d after expiry: %d %s", i, r.StatusCode, r.Text)
		}
		sessionChunks(t, "refresh", r)
		tokens = append(tokens, up.Last(t).Authorization)
	}
	if tokens = slices.Compact(tokens); len(tokens) != 1 || tokens[0] == saw.Authorization || !issued(op, tokens[0]) {
		t.Error("after expiry the upstream did not get one new access token the OP issued on every call")
	}
	if c := op.Counts(); c.RefreshGrants != 1 {
		t.Errorf("refresh grants = %d for four calls at once, want 1", c.RefreshGrants)
	}
	jar.SetCookies(public, burst[0].Cookies())

	logout := get(info.LogoutURL)
	loc, _ := url.Parse(logout.Header.Get("Location"))
	if logout.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), op.Issuer) || loc.Query().Get("id_token_hint") == "" {
		t.Fatalf("logout: %d to %q", logout.StatusCode, loc.Redacted())
	}
	if expired := expiredSession(logout); !slices.Equal(expired, chunks) {
		t.Errorf("logout expired %q, want every chunk %q", expired, chunks)
	}
	if c := op.Counts(); c.Revocations != 1 {
		t.Errorf("revocations = %d, want 1", c.Revocations)
	}
	if r := api("/api/orders/9"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("api after logout: %d, want 401", r.StatusCode)
	}

	checkSetCookies(t, seen)
	checkNoSecrets(t, w, seen, logout)
}

// checkForwarded checks what the upstream got of the first API call: the
// OP's access token, the path under the route's base, the client address
// Cloudflare's edge reported, and none of bff's cookies or headers.
func checkForwarded(t *testing.T, op *bfftest.OP, saw bfftest.Saw) {
	t.Helper()
	if !issued(op, saw.Authorization) {
		t.Errorf("upstream Authorization is not an access token the OP issued: %.20q", saw.Authorization)
	}
	if saw.Path != "/v1/orders/7" || saw.Query != "q=1" {
		t.Errorf("upstream got %q ? %q, want /v1/orders/7 ? q=1", saw.Path, saw.Query)
	}
	if saw.XFF != "203.0.113.7" {
		t.Errorf("X-Forwarded-For %q, want the CF-Connecting-IP address", saw.XFF)
	}
	if strings.Contains(saw.Cookie, "__Host-bff") || saw.CSRF != "" || saw.Header.Get("CF-Connecting-IP") != "" {
		t.Errorf("upstream got bff's cookie, X-CSRF or CF-Connecting-IP: %v", saw.Header)
	}
}

func cookieHeader(cs []*http.Cookie) string {
	var pairs []string
	for _, c := range cs {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	return strings.Join(pairs, "; ")
}

func issued(op *bfftest.OP, authorization string) bool {
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	return ok && slices.Contains(op.IssuedTokens(), tok)
}

// sessionChunks returns the names of the session chunks r sets, which
// must be more than one (the large user's session needs them), numbered
// .0, .1, ... without a gap.
func sessionChunks(t *testing.T, step string, r bfftest.Response) []string {
	t.Helper()
	var names []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, "__Host-bff-session") && c.MaxAge >= 0 {
			names = append(names, c.Name)
		}
	}
	sort.Slice(names, func(i, j int) bool { return chunkIndex(names[i]) < chunkIndex(names[j]) })
	if len(names) < 2 {
		t.Fatalf("%s set session cookies %q; want a session in chunks", step, names)
	}
	for i, n := range names {
		if n != "__Host-bff-session."+strconv.Itoa(i) {
			t.Errorf("%s: chunk %d is named %q", step, i, n)
		}
	}
	return names
}

func chunkIndex(name string) int {
	_, i, _ := strings.Cut(name, ".")
	n, _ := strconv.Atoi(i)
	return n
}

// expiredSession returns the names of the session cookies r expires, in
// chunk order.
func expiredSession(r bfftest.Response) []string {
	var names []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, "__Host-bff-session") && c.MaxAge < 0 {
			names = append(names, c.Name)
		}
	}
	sort.Slice(names, func(i, j int) bool { return chunkIndex(names[i]) < chunkIndex(names[j]) })
	return names
}

// checkSetCookies checks every Set-Cookie line the Worker sent: only bff's
// cookies, each with the attributes the contract gives it.
func checkSetCookies(t *testing.T, seen []bfftest.Response) {
	t.Helper()
	lines := 0
	for _, r := range seen {
		for _, line := range r.Header.Values("Set-Cookie") {
			lines++
			m := setCookieName.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("%s: Set-Cookie of a cookie not bff's: %.40q", r.Request.URL.Path, line)
				continue
			}
			sameSite := "Strict"
			if strings.HasPrefix(m[1], "__Host-bff-login-") {
				sameSite = "Lax"
			}
			for _, p := range kit.SetCookieProblems(line, sameSite) {
				t.Errorf("%s: %.40s...: %s", r.Request.URL.Path, line, p)
			}
		}
	}
	if lines < 8 {
		t.Errorf("only %d Set-Cookie lines in the whole flow; the check proves little", lines)
	}
}

// checkNoSecrets scans every response the browser got and everything the
// Worker logged for a token the OP issued, the client secret or the cookie
// key. The one exception is RP-initiated logout's id_token_hint in the
// redirect to the OP.
func checkNoSecrets(t *testing.T, w *Rig, seen []bfftest.Response, logout bfftest.Response) {
	t.Helper()
	secrets := append(slices.Clone(w.OP.IssuedTokens()), w.OP.ClientSecret)
	secrets = append(secrets, w.Key.Secrets...)
	if len(secrets) < 7 {
		t.Fatalf("only %d secrets to look for; the scan would prove little", len(secrets))
	}
	hint := bfftest.MustURL(t, logout.Header.Get("Location")).Query().Get("id_token_hint")
	for i, r := range seen {
		dump := r.Dump()
		if r.Response == logout.Response {
			dump = strings.ReplaceAll(strings.ReplaceAll(dump, url.QueryEscape(hint), ""), hint, "")
		}
		for _, s := range secrets {
			if strings.Contains(dump, s) {
				t.Errorf("response %d (%s) carries a secret %.12q...", i, r.Request.URL.Path, s)
			}
		}
	}
	logs := w.Logs()
	if !strings.Contains(logs, "login completed") {
		t.Fatalf("the Worker's log lines were not captured; the scan would prove nothing:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the Worker logged a secret %.12q...", s)
		}
	}
}

// warm is how many requests of each kind measureWarm times, after as many
// again to let the engine settle.
var warm = flag.Int("warm", 50, "requests of each kind timed on the warm Worker")

// measureWarm times requests to the warm isolate, for the figures in
// docs/edge.md: the median and 90th percentile of each kind (the health
// probe, the session, a proxied call), and workerd's CPU time per request.
func measureWarm(t *testing.T, w *Workerd, client *http.Client) {
	t.Helper()
	n := max(*warm, 10)
	for _, target := range []string{"/healthz", "/auth/session", "/api/warm"} {
		var took []time.Duration
		var cpu CPUTime
		for i := range 2 * n {
			if i == n {
				cpu, _ = w.CPU()
			}
			start := time.Now()
			r := bfftest.Get(t, client, w.URL, target, "X-CSRF", "1")
			if i >= n {
				took = append(took, time.Since(start))
			}
			if r.StatusCode != http.StatusOK {
				t.Fatalf("warm %s: %d %s", target, r.StatusCode, r.Text)
			}
		}
		slices.Sort(took)
		line := fmt.Sprintf("warm %s: median %v, p90 %v over %d requests", target, took[n/2].Round(10*time.Microsecond), took[n*9/10].Round(10*time.Microsecond), n)
		if used, ok := cpu.Since(w, n); ok {
			line += fmt.Sprintf("; workerd CPU per request: %v", used)
		}
		t.Log(line)
	}
}
