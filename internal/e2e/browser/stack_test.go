package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	demoapi "bff/demo/api"
	"bff/demo/spa"
	"bff/internal/bfftest"
	"bff/internal/bfftest/chrome"
	"bff/internal/server"

	"github.com/chromedp/chromedp"
)

// The browser suite runs the demo for real: headless Chromium logs in
// through the OP's form, calls the demo API through two bff replicas that
// share only their cookie keys, watches bff refresh the access token, and
// logs out, while the test watches everything the browser sees for tokens
// and tries the API from another site.
//
// The origins are chosen so that the browser's own rules are exercised:
//
//	http://127.0.0.1:P  the front (round robin over the replicas): the SPA,
//	                    /auth/ and /api/. Chromium counts loopback as a
//	                    secure context, so __Host- and Secure cookies work
//	                    without TLS.
//	http://127.0.0.2:Q  the OP. A different host, not just a different
//	                    port: ports do not make a site, so only another
//	                    host makes the login round trip a cross-site
//	                    navigation, which is what the SameSite=Lax login
//	                    cookie exists for.
//	http://127.0.0.3:R  a page of another site that tries to use the
//	                    session (SameSite=Strict and the X-CSRF preflight
//	                    must stop it).

// browserAccessTTL is the OP's access token lifetime. bff refreshes a token
// once it is within 30 s of expiry, so a 32 s token becomes due about 2 s
// after it is issued: the suite sees a real refresh within seconds, with
// real clocks everywhere.
const browserAccessTTL = 32 * time.Second

// browserStack is the demo deployment on loopback, as the browser sees it.
type browserStack struct {
	*bfftest.Stack
	public     string // the front's origin, the only bff origin the browser knows
	opOrigin   string // http://127.0.0.2:Q
	endSession string // the OP's end_session_endpoint, from its discovery document
	foreign    string // the other site's origin
	apiHits    atomic.Int64
}

// newBrowserStack starts the OP, the demo API, two bff replicas serving the
// demo SPA, the round-robin front and the other site's page.
func newBrowserStack(t *testing.T) *browserStack {
	t.Helper()
	s := &browserStack{}
	// The API needs the OP's issuer, which exists only once the stack
	// does; nothing calls it before then.
	var api atomic.Pointer[http.Handler]
	s.Stack = bfftest.NewStack(t, bfftest.StackOptions{
		Replicas: 2,
		OP: bfftest.OPOptions{
			Host:      "127.0.0.2",
			AccessTTL: browserAccessTTL,
			// Two replicas may redeem one refresh token at about the same
			// time; production IdPs allow that under rotation with a grace
			// period, and so does this one.
			Reuse: 30 * time.Second,
		},
		Upstream: http.StripPrefix("/v1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.apiHits.Add(1)
			(*api.Load()).ServeHTTP(w, r)
		})),
		// As the demo configures it.
		Env:    map[string]string{"BFF_CSP": spa.CSP, "BFF_PROTECTED_PATHS": "/account"},
		Server: server.Options{Static: spa.FS()},
	})
	h, err := demoapi.New(t.Context(), demoapi.Config{Issuer: s.OP.Issuer, Audience: s.OP.ClientID})
	if err != nil {
		t.Fatal(err)
	}
	api.Store(&h)
	s.public = s.Public.String()
	s.opOrigin = s.OP.Origin()
	s.endSession = discoverEndSession(t, s.OP.Issuer)

	// Another site: a plain page whose script (run by the test) tries the
	// API with the user's cookies.
	foreign := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>another site</title><p>Nothing to see here.</p>")
	}))
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.3: %v", err)
	}
	foreign.Listener.Close()
	foreign.Listener = ln
	foreign.Start()
	t.Cleanup(foreign.Close)
	s.foreign = foreign.URL
	return s
}

// tab is one Chromium tab on the stack, its network traffic and console
// watched from the start.
type tab struct {
	t       *testing.T
	s       *browserStack
	ctx     context.Context
	net     *netLog
	console func() []string // stops watching; returns CSP violations and exceptions
}

// openTab starts Chromium, or skips the test when there is none.
func openTab(t *testing.T, s *browserStack) *tab {
	t.Helper()
	ctx := chrome.Start(t, chrome.Require(t))
	return &tab{t: t, s: s, ctx: ctx, net: recordNetwork(t, ctx, s.public), console: chrome.WatchConsole(ctx)}
}

// step runs actions, failing the test with where the browser is.
func (b *tab) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (%s)", what, err, chrome.WhereIs(b.ctx))
	}
}

// location is the page's URL, which is also given to the leak scan.
func (b *tab) location(stage string) string {
	b.t.Helper()
	loc := chrome.Eval[string](b.t, b.ctx, "location.href")
	b.net.add("page URL "+stage, loc, true)
	return loc
}

// signInAtOP waits for the OP's form and signs the demo user in.
func (b *tab) signInAtOP(what string) {
	b.t.Helper()
	b.step(what+": the OP's form", chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)))
	if loc := b.location("at the OP"); !strings.HasPrefix(loc, b.s.opOrigin+"/") {
		b.t.Fatalf("%s: at %s, want the OP's form on %s", what, loc, b.s.opOrigin)
	}
	b.step(what+": sign in",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "demo"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "demo"),
		chromedp.Click(chromedp.CSS(`button[type="submit"]:not([name])`)),
	)
}

// discoverEndSession reads the OP's end_session_endpoint, so the one URL
// allowed to carry the ID token is recognised exactly.
func discoverEndSession(t *testing.T, issuer string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.EndSession == "" {
		t.Fatalf("OP discovery: no end_session_endpoint (%v)", err)
	}
	return doc.EndSession
}
