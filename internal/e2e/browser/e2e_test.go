package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"bff/internal/bfftest/chrome"
)

// TestBrowserDemoAcrossReplicas drives the demo in headless Chromium
// through two bff replicas: log in at the OP (a cross-site round trip),
// see the profile, call the API, let the access token come due and call
// again (bff refreshes it), log out. Along the way it checks from inside
// the browser that page script never sees a bff cookie or an issued token,
// and that a page of another site cannot use the session. It takes about
// 6 s, most of it waiting for the access token to come due.
func TestBrowserDemoAcrossReplicas(t *testing.T) {
	start := time.Now()
	s := newBrowserStack(t)
	b := openTab(t, s)
	ctx, netlog, step := b.ctx, b.net, b.step
	text := func(id string) string {
		t.Helper()
		return chrome.Eval[string](t, ctx, fmt.Sprintf("document.getElementById(%q).textContent", id))
	}
	location := b.location
	noCookieForScript := func(stage string) {
		t.Helper()
		// Only the names are reported: a cookie's value is a credential.
		names := chrome.Eval[[]string](t, ctx, `document.cookie.split(';').map(c => c.split('=')[0].trim()).filter(Boolean)`)
		if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "__Host-bff") }) {
			t.Errorf("%s: document.cookie shows bff cookies to page script: %q", stage, names)
		}
	}

	// Signed out.
	step("open the SPA", chromedp.Navigate(s.public+"/"), chromedp.WaitVisible(chromedp.ID("login")))
	location("signed out")
	noCookieForScript("signed out")

	// Log in: the SPA sends the browser to bff, bff to the OP on another
	// site, the OP's form back to bff's callback, and bff to the SPA.
	step("click Log in", chromedp.Click(chromedp.ID("login")))
	b.signInAtOP("Log in")
	step("signed in", chromedp.WaitVisible(chromedp.ID("profile")))
	if loc := location("signed in"); loc != s.public+"/" {
		t.Errorf("after login the browser is at %s, want %s/", loc, s.public)
	}
	if got := text("name"); got != "Demo User" {
		t.Errorf("#name = %q, want Demo User", got)
	}
	if c := s.OP.Counts(); c.AuthCodeGrants != 1 {
		t.Errorf("OP counts %+v, want one authorization code grant", c)
	}
	noCookieForScript("signed in")
	checkSessionCookie(t, ctx, s.public)

	// Call the API through bff.
	first := callAPI(t, ctx, 1)
	if first.Sub != "demo-user" || first.ExpiresIn <= 0 || first.ExpiresIn > int(browserAccessTTL/time.Second) {
		t.Errorf("first call: API saw %+v, want subject demo-user and a live %s token", first, browserAccessTTL)
	}
	t.Logf("call 1: the API saw sub=%s, token expires %s (in %d s)", first.Sub, first.ExpiresAt.Format(time.TimeOnly), first.ExpiresIn)

	// While the user is signed in, another site tries to use the session.
	crossSiteAttempts(t, ctx, s)

	// Let the access token come due: bff refreshes within 30 s of expiry.
	// ExpiresAt is truncated to the second, so wait until 27 s remain by
	// it (at most 28 s in fact), with margin for bff's own arithmetic.
	before := s.OP.Counts()
	if wait := time.Until(first.ExpiresAt.Add(-27 * time.Second)); wait > 0 {
		t.Logf("waiting %s for the access token to come due", wait.Round(time.Millisecond))
		time.Sleep(wait)
	}
	secondStart := time.Now()
	second := callAPI(t, ctx, 2)
	afterSecond := s.OP.Counts()
	t.Logf("call 2: the API saw sub=%s, token expires %s (in %d s); OP refresh grants %d -> %d",
		second.Sub, second.ExpiresAt.Format(time.TimeOnly), second.ExpiresIn, before.RefreshGrants, afterSecond.RefreshGrants)
	if !second.ExpiresAt.After(first.ExpiresAt) {
		t.Errorf("second call: token expiry %s, not later than the first call's %s: no refresh reached the API", second.ExpiresAt, first.ExpiresAt)
	}
	if afterSecond.RefreshGrants <= before.RefreshGrants || afterSecond.RefreshRefused != 0 {
		t.Errorf("OP counts %+v after the second call (before: %+v): want a new refresh grant and none refused", afterSecond, before)
	}
	if got := text("api-summary"); !strings.Contains(got, "bff refreshed it since the last call") {
		t.Errorf("#api-summary = %q, want the SPA to notice the refresh", got)
	}

	// The refreshed session came back to the browser on that response: the
	// next call, on the other replica, uses the new token without another
	// refresh. Only meaningful while the new token is not yet due itself
	// (about 2 s after it was issued).
	third := callAPI(t, ctx, 3)
	if elapsed := time.Since(secondStart); elapsed < 1500*time.Millisecond {
		if c := s.OP.Counts(); !third.ExpiresAt.Equal(second.ExpiresAt) || c.RefreshGrants != afterSecond.RefreshGrants {
			t.Errorf("third call: token expiry %s (second: %s), refresh grants %d (after second: %d): the refreshed cookie was not used",
				third.ExpiresAt, second.ExpiresAt, c.RefreshGrants, afterSecond.RefreshGrants)
		}
	} else {
		t.Logf("third call came %s after the refresh; too late to check that the refreshed cookie was reused", elapsed.Round(time.Millisecond))
	}
	checkBothReplicasServed(t, s)

	// A picture for a person to look at.
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("screenshot is not a PNG")
	}
	// Kept with -artifacts, else removed with the test.
	shotPath := filepath.Join(t.ArtifactDir(), "signed-in.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the signed-in demo: %s", shotPath)

	// Log out: bff clears the session, revokes the refresh token and sends
	// the browser through the OP's end_session back to the SPA.
	step("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	if loc := location("after logout"); loc != s.public+"/" {
		t.Errorf("after logout the browser is at %s, want %s/", loc, s.public)
	}
	if c := s.OP.Counts(); c.EndSessions < 1 || c.Revocations < 1 {
		t.Errorf("OP counts %+v after logout: want end_session and a revocation", c)
	}
	status := chrome.Eval[int](t, ctx, `fetch('/auth/session', {headers: {'X-CSRF': '1'}, cache: 'no-store'}).then(r => r.status)`)
	if status != http.StatusUnauthorized {
		t.Errorf("GET /auth/session from the page after logout: %d, want 401", status)
	}
	noCookieForScript("after logout")
	for _, c := range browserCookies(t, ctx, s.public) {
		if strings.HasPrefix(c.Name, "__Host-bff") {
			t.Errorf("after logout the browser still holds %s", c.Name)
		}
	}

	// Everything the tab sent and received, against every token the OP
	// ever issued.
	netlog.settle(t)
	items, bodies, errs := netlog.snapshot()
	for _, e := range errs {
		t.Errorf("network log: %s", e)
	}
	tokens := s.OP.IssuedTokens()
	if len(tokens) < 6 {
		t.Fatalf("the OP issued only %d tokens; want a login and a refresh's worth", len(tokens))
	}
	hints := leakScan(t, items, tokens, s.endSession)
	// The scan must have seen the logout navigation, and the hint it let
	// through must be an issued token (the ID token), not something else.
	if len(hints) == 0 {
		t.Error("the logout navigation to the OP's end_session_endpoint was never seen; the scan missed it")
	}
	for _, h := range hints {
		if !slices.Contains(tokens, h) || strings.Count(h, ".") != 2 {
			t.Error("id_token_hint in the logout URL is not an ID token the OP issued")
		}
	}
	// And it must have seen what it claims to have scanned.
	if n := countContaining(bodies["/api/whoami"], `"sub":"demo-user"`); n < 3 {
		t.Errorf("the scan read %d /api/whoami bodies with the subject, want 3", n)
	}
	if n := countContaining(bodies["/auth/session"], `"sub":"demo-user"`); n < 1 {
		t.Error("the scan read no signed-in /auth/session body")
	}
	if !slices.ContainsFunc(items, func(it seen) bool { return it.isURL && strings.HasPrefix(it.text, s.public+"/auth/callback?") }) {
		t.Error("the scan never saw the OP's redirect to /auth/callback")
	}
	t.Logf("scanned %d URLs, headers and bodies (%d bodies of %s) for %d issued tokens; %d logout URL(s) carried the ID token as id_token_hint",
		len(items), countBodies(bodies), s.public, len(tokens), len(hints))

	for _, p := range b.console() {
		t.Errorf("browser console: %s", p)
	}
	t.Logf("wall time %s", time.Since(start).Round(time.Millisecond))
}

// whoami is what the demo API reports about the token it was sent.
type whoami struct {
	Sub       string    `json:"sub"`
	ExpiresAt time.Time `json:"expiresAt"`
	ExpiresIn int       `json:"expiresIn"`
}

// callAPI clicks the SPA's Call API button for the n-th time and reads
// what the page shows.
func callAPI(t *testing.T, ctx context.Context, n int) whoami {
	t.Helper()
	count := fmt.Sprintf("%d %s", n, map[bool]string{true: "call", false: "calls"}[n == 1])
	done := fmt.Sprintf(`document.getElementById('api-count').textContent === %q && !document.getElementById('call-api').disabled`, count)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, chromedp.Click(chromedp.ID("call-api"))); err != nil {
		t.Fatalf("click Call API (%d): %v", n, err)
	}
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](done, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		t.Fatalf("Call API (%d) never finished: %v", n, err)
	}
	shown := chrome.Eval[string](t, ctx, `document.getElementById('api-result').textContent`)
	status, body, _ := strings.Cut(shown, "\n\n")
	if status != "HTTP 200 OK" {
		t.Fatalf("Call API (%d): the page shows %q", n, shown)
	}
	var w whoami
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatalf("Call API (%d): %v in %q", n, err, body)
	}
	return w
}

func browserCookies(t *testing.T, ctx context.Context, origin string) []*network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{origin + "/"}})
	if err != nil {
		t.Fatalf("read the browser's cookies: %v", err)
	}
	return res.Cookies
}

// checkSessionCookie asserts, from the browser's own cookie store, that the
// signed-in browser holds the session the way the contract says: HttpOnly
// (which is why document.cookie cannot show it), Secure, SameSite=Strict,
// and no login-state cookie left over.
func checkSessionCookie(t *testing.T, ctx context.Context, origin string) {
	t.Helper()
	var session int
	for _, c := range browserCookies(t, ctx, origin) {
		switch {
		case strings.HasPrefix(c.Name, "__Host-bff-session"):
			session++
			if !c.HTTPOnly || !c.Secure || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" {
				t.Errorf("%s: HttpOnly=%v Secure=%v SameSite=%q Path=%q, want HttpOnly, Secure, Strict, /",
					c.Name, c.HTTPOnly, c.Secure, c.SameSite, c.Path)
			}
		case strings.HasPrefix(c.Name, "__Host-bff"):
			t.Errorf("signed-in browser still holds %s", c.Name)
		}
	}
	if session == 0 {
		t.Fatal("the browser holds no __Host-bff-session cookie after login")
	}
}

// checkBothReplicasServed asserts that the session really was served by
// both replicas: requests from the SPA that carried the session cookie
// landed on each of them.
func checkBothReplicasServed(t *testing.T, s *browserStack) {
	t.Helper()
	served := map[int]int{}
	for _, r := range s.Requests.All() {
		if r.BFFCookie && r.FetchSite == "same-origin" && (r.Path == "/auth/session" || strings.HasPrefix(r.Path, "/api/")) {
			served[r.Replica]++
		}
	}
	if len(served) != 2 {
		t.Errorf("session requests per replica: %v; want both replicas to serve the session", served)
	}
}

// crossSiteAttempts opens a page of another site in a second tab of the
// same browser, so it shares the signed-in user's cookies, and tries to
// read the API through bff from there.
func crossSiteAttempts(t *testing.T, ctx context.Context, s *browserStack) {
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open a second tab: %v", err)
	}
	var mu sync.Mutex
	var corsErrors []string
	if err := chromedp.Listen(tab, func(ev any) {
		if ev, ok := ev.(*network.EventLoadingFailed); ok && ev.CorsErrorStatus != nil {
			mu.Lock()
			corsErrors = append(corsErrors, string(ev.CorsErrorStatus.CorsError))
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	nctx, ncancel := context.WithTimeout(tab, 20*time.Second)
	defer ncancel()
	if err := chromedp.Do(nctx, chromedp.Navigate(s.foreign+"/")); err != nil {
		t.Fatalf("open the other site's page: %v", err)
	}

	apiBefore := s.apiHits.Load()
	frontBefore := len(s.Requests.All())
	type outcome struct {
		Outcome string `json:"outcome"` // "response" or "rejected"
		Status  int    `json:"status"`
		Type    string `json:"type"`
		Body    string `json:"body"`
		Error   string `json:"error"`
	}
	try := func(label, init string) outcome {
		t.Helper()
		js := fmt.Sprintf(`fetch(%q, %s).then(
			async r => ({outcome: 'response', status: r.status, type: r.type, body: await r.text()}),
			e => ({outcome: 'rejected', error: String(e)}))`, s.public+"/api/whoami", init)
		o := chrome.Eval[outcome](t, tab, js)
		t.Logf("cross-site %s: %+v", label, o)
		return o
	}
	// (a) A credentialed GET needs no preflight, so the browser sends it;
	// but the session cookie stays home (SameSite=Strict, checked on the
	// cookie itself in checkSessionCookie; current Chromium also blocks
	// third-party cookies by default), bff refuses the request for want of
	// X-CSRF, and CORS keeps the page from reading even the refusal.
	a := try("(a) fetch with credentials, no X-CSRF", `{credentials: 'include'}`)
	if a.Outcome != "rejected" {
		t.Errorf("(a) the other site's page got a readable response: %+v", a)
	}
	// (a') The same in no-cors mode resolves, but to an opaque response:
	// status 0 and no body.
	opaque := try("(a') the same in no-cors mode", `{credentials: 'include', mode: 'no-cors'}`)
	if opaque.Outcome != "response" || opaque.Type != "opaque" || opaque.Status != 0 || opaque.Body != "" {
		t.Errorf("(a') no-cors: %+v, want an opaque response with nothing in it", opaque)
	}
	// (b) X-CSRF is not a CORS-safelisted header, so the browser asks bff
	// first (a preflight); bff grants no Access-Control-Allow-*, so the
	// request itself is never sent.
	b := try("(b) fetch with credentials and X-CSRF: 1", `{credentials: 'include', headers: {'X-CSRF': '1'}}`)
	if b.Outcome != "rejected" {
		t.Errorf("(b) the other site's page got a response: %+v", b)
	}

	// What reached bff, as the front saw it.
	var gets, preflights int
	for _, r := range s.Requests.All()[frontBefore:] {
		if r.Path != "/api/whoami" {
			continue
		}
		t.Logf("the front saw: %s %s Sec-Fetch-Site=%q Origin=%q bffCookie=%v X-CSRF=%v -> %d, Access-Control-Allow-Origin=%q",
			r.Method, r.Path, r.FetchSite, r.Origin, r.BFFCookie, r.CSRF, r.Status, r.ACAO)
		if r.FetchSite != "cross-site" {
			t.Errorf("%s %s: Sec-Fetch-Site %q, want cross-site", r.Method, r.Path, r.FetchSite)
		}
		if r.BFFCookie {
			t.Errorf("%s %s from another site carried the session cookie", r.Method, r.Path)
		}
		if r.ACAO != "" {
			t.Errorf("%s %s: bff answered Access-Control-Allow-Origin %q", r.Method, r.Path, r.ACAO)
		}
		switch r.Method {
		case http.MethodGet:
			gets++
			if r.CSRF {
				t.Errorf("a cross-site GET with X-CSRF reached bff: the preflight did not stop it")
			}
			if r.Status != http.StatusForbidden && r.Status != http.StatusUnauthorized {
				t.Errorf("cross-site GET: bff answered %d, want 403 or 401", r.Status)
			}
		case http.MethodOptions:
			preflights++
			if !strings.Contains(strings.ToLower(r.ACRH), "x-csrf") {
				t.Errorf("preflight asked for headers %q, want x-csrf", r.ACRH)
			}
			if r.Status >= 200 && r.Status < 300 {
				t.Errorf("preflight answered %d, want a refusal", r.Status)
			}
		default:
			t.Errorf("unexpected cross-site %s", r.Method)
		}
	}
	if gets != 2 || preflights != 1 {
		t.Errorf("the front saw %d cross-site GETs and %d preflights, want 2 (a, a') and 1 (b)", gets, preflights)
	}
	if n := s.apiHits.Load() - apiBefore; n != 0 {
		t.Errorf("the demo API received %d requests from the other site's attempts, want none", n)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("the browser reported CORS errors: %v", corsErrors)
	if !slices.ContainsFunc(corsErrors, func(e string) bool { return strings.HasPrefix(e, "Preflight") }) {
		t.Errorf("no preflight CORS error reported for (b); got %v", corsErrors)
	}
	if !slices.ContainsFunc(corsErrors, func(e string) bool { return !strings.HasPrefix(e, "Preflight") }) {
		t.Errorf("no CORS error reported for (a); got %v", corsErrors)
	}
}

func countContaining(list []string, sub string) int {
	n := 0
	for _, s := range list {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func countBodies(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}
