package spa

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"bff/internal/bfftest/chrome"
)

// hostile is a claim value that would run script if it were ever parsed as
// HTML.
const hostile = `<img src=x id=pwned>Alice "Mallory"`

// fakeBFF plays bff's side of the contract the app relies on: the session
// endpoint, the /api/ proxy and the login and logout redirects.
type fakeBFF struct {
	mu            sync.Mutex
	sessionStatus int
	apiStatus     int
	apiExpiresAt  time.Time
	noCSRF        []string // requests that lacked X-CSRF: 1
	navigations   chan string
}

func (f *fakeBFF) set(fn func(*fakeBFF)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeBFF) handler() http.Handler {
	files := http.FileServerFS(FS())
	mux := http.NewServeMux()
	mux.Handle("GET /", files)
	mux.HandleFunc("GET /auth/session", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		status := f.sessionStatus
		f.mu.Unlock()
		if status != http.StatusOK {
			problem(w, status, "Session Lookup Failed", "bff is having a bad day.")
			return
		}
		writeJSON(w, map[string]any{
			"sub": "user-42",
			"claims": map[string]any{
				"sub": "user-42", "name": hostile, "email": "alice@example.test",
				"preferred_username": "alice", "groups": []string{"admins", "ops"},
				"auth_time": 1900000000,
			},
			"expiresAt": time.Now().Add(5*time.Minute + 20*time.Second).UTC().Format(time.RFC3339),
			"logoutUrl": "/auth/logout?sid=s-123",
		})
	})
	mux.HandleFunc("GET /api/whoami", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		status, exp := f.apiStatus, f.apiExpiresAt
		f.mu.Unlock()
		if status != http.StatusOK {
			problem(w, status, "Bad Gateway", "The API did not answer.")
			return
		}
		writeJSON(w, map[string]any{
			"sub": "user-42", "expiresAt": exp.Format(time.RFC3339), "expiresIn": 42,
			"issuedAt": exp.Add(-time.Minute).Format(time.RFC3339), "scope": "openid", "calls": 7,
		})
	})
	navigate := func(w http.ResponseWriter, r *http.Request) {
		f.navigations <- r.URL.RequestURI()
		if r.URL.Query().Get("prompt") == "none" {
			// A silent sign-in that found no session at the IdP: bff
			// sends the browser back where it came from.
			http.Redirect(w, r, r.URL.Query().Get("returnTo"), http.StatusFound)
			return
		}
		fmt.Fprintln(w, "ok")
	}
	mux.HandleFunc("GET /auth/login", navigate)
	mux.HandleFunc("GET /auth/logout", navigate)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", CSP)
		if p := r.URL.Path; (p == "/auth/session" || strings.HasPrefix(p, "/api/")) && r.Header.Get("X-CSRF") != "1" {
			f.set(func(f *fakeBFF) { f.noCSRF = append(f.noCSRF, p) })
		}
		mux.ServeHTTP(w, r)
	})
}

func problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func TestInBrowser(t *testing.T) {
	ctx := chrome.Start(t, chrome.Require(t))
	f := &fakeBFF{sessionStatus: http.StatusUnauthorized, apiStatus: http.StatusOK, navigations: make(chan string, 1)}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()

	// Start the browser before subscribing: messages exist only per target.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	consoleProblems := chrome.WatchConsole(ctx)

	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID(id)))
		if err != nil {
			t.Fatalf("text of #%s: %v", id, err)
		}
		return s
	}
	waitText := func(id, want string) {
		t.Helper()
		js := fmt.Sprintf("document.getElementById(%q).textContent.includes(%q)", id, want)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Fatalf("#%s never showed %q; it shows %q: %v", id, want, text(id), err)
		}
	}
	eval := func(js string) bool {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	// open loads url and waits for the element id. The page may navigate
	// on by itself at once (its silent sign-in), which aborts the load
	// Navigate waits for; that is the page at work, not a failure.
	open := func(url, id string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil && !strings.Contains(err.Error(), "net::ERR_ABORTED") {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID(id))); err != nil {
			t.Fatal(err)
		}
	}
	navigatedTo := func(want string) {
		t.Helper()
		select {
		case got := <-f.navigations:
			if got != want {
				t.Errorf("navigated to %s, want %s", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("never navigated to %s", want)
		}
	}

	// Signed out: the page first tries a silent sign-in, once, and then
	// shows only the login button, which starts bff's login.
	open(srv.URL+"/", "login")
	navigatedTo("/auth/login?prompt=none&returnTo=%2F")
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || title != "bff demo" {
		t.Errorf("title = %q, %v; want bff demo", title, err)
	}
	if !eval(`document.getElementById('signed-in').hidden && document.getElementById('loading').hidden`) {
		t.Error("signed-out page still shows the signed-in or loading view")
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("login"))); err != nil {
		t.Fatal(err)
	}
	navigatedTo("/auth/login?returnTo=%2F")

	// Signed in: the profile, with a hostile claim shown as text.
	f.set(func(f *fakeBFF) { f.sessionStatus = http.StatusOK; f.apiExpiresAt = time.Now().Add(time.Minute).UTC() })
	open(srv.URL+"/", "profile")
	profile := []struct{ id, want string }{
		{"name", hostile},
		{"email", "alice@example.test"},
		{"username", "alice"},
		{"sub", "user-42"},
	}
	for _, p := range profile {
		if got := text(p.id); got != p.want {
			t.Errorf("#%s = %q, want %q", p.id, got, p.want)
		}
	}
	if got := text("expires"); !strings.Contains(got, "in 5 min") {
		t.Errorf("#expires = %q, want it to say in 5 min", got)
	}
	if eval(`document.getElementById('pwned') !== null || document.images.length > 0`) {
		t.Error("a claim was parsed as HTML")
	}
	if !eval(`document.querySelectorAll('#claims tbody tr').length === 6`) {
		t.Error("claims table does not have one row per claim")
	}
	if got := text("claims"); !strings.Contains(got, `["admins","ops"]`) || !strings.Contains(got, hostile) {
		t.Errorf("claims table = %q, want every claim's value", got)
	}

	// Calling the API through bff.
	click := func(id string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID(id))); err != nil {
			t.Fatal(err)
		}
	}
	click("call-api")
	waitText("api-summary", "The API saw subject user-42; its access token expires in 42 s")
	if got := text("api-result"); !strings.HasPrefix(got, "HTTP 200") || !strings.Contains(got, `"expiresIn": 42`) {
		t.Errorf("#api-result = %q, want the status and pretty JSON", got)
	}
	waitText("api-count", "1 call")

	f.set(func(f *fakeBFF) { f.apiExpiresAt = f.apiExpiresAt.Add(time.Minute) })
	click("call-api")
	waitText("api-summary", "refreshed")
	waitText("api-count", "2 calls")

	f.set(func(f *fakeBFF) { f.apiStatus = http.StatusUnauthorized })
	click("call-api")
	waitText("api-summary", "session ended — log in again")
	waitText("api-result", "HTTP 401")

	f.set(func(f *fakeBFF) { f.apiStatus = http.StatusBadGateway })
	click("call-api")
	waitText("api-summary", "Bad Gateway: The API did not answer.")

	click("logout")
	navigatedTo("/auth/logout?sid=s-123")

	// After logging out on purpose, the page does not try to sign in
	// silently again.
	f.set(func(f *fakeBFF) { f.sessionStatus = http.StatusUnauthorized })
	open(srv.URL+"/", "login")
	select {
	case got := <-f.navigations:
		t.Errorf("after logout the page navigated to %s", got)
	default:
	}

	// bff failing is reported, not mistaken for signed out.
	f.set(func(f *fakeBFF) { f.sessionStatus = http.StatusInternalServerError })
	open(srv.URL+"/", "error")
	if got := text("error"); got != "Session Lookup Failed: bff is having a bad day." {
		t.Errorf("#error = %q", got)
	}
	if eval(`!document.getElementById('signed-out').hidden`) {
		t.Error("a failing bff shows the signed-out view")
	}

	for _, p := range consoleProblems() {
		t.Errorf("browser console: %s", p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.noCSRF) > 0 {
		t.Errorf("requests without X-CSRF: 1: %v", f.noCSRF)
	}
}
