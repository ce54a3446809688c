package e2e

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bff/internal/bfftest"
)

// spaDir writes a small built SPA: index.html, a hashed asset with its
// precompressed sibling, and a page of its own.
func spaDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"index.html":              "<!doctype html><title>spa</title>",
		"assets/main-1f2e.js":     "console.log('spa')",
		"assets/main-1f2e.js.gz":  "\x1f\x8b not really, but sent as it is",
		"privacy/index.html":      "<p>privacy</p>",
		"app/reports/report.json": `{"ok":true}`,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var (
	navigate = []string{"Sec-Fetch-Mode", "navigate", "Accept", "text/html"}
	scripted = []string{"Sec-Fetch-Mode", "cors", "Accept", "application/json"}
	oldStyle = []string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}
)

// TestProtectedPages: a navigation to a protected page without a session
// is sent to sign in and lands back on that page, path and query; a fetch
// gets 401; unprotected pages and bff's own endpoints keep their rules.
func TestProtectedPages(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{Env: map[string]string{
		"BFF_STATIC_DIR":      spaDir(t),
		"BFF_PROTECTED_PATHS": "/app/, /settings",
		"BFF_CSP":             "default-src 'self'",
	}})
	for _, tc := range []struct {
		path    string
		headers []string
		status  int
		where   string // the Location of a redirect
	}{
		{"/app/reports?year=2026&q=a%20b", navigate, http.StatusFound, "/auth/login?returnTo=" + url.QueryEscape("/app/reports?year=2026&q=a%20b")},
		{"/app", oldStyle, http.StatusFound, "/auth/login?returnTo=%2Fapp"},
		{"/settings/profile", navigate, http.StatusFound, "/auth/login?returnTo=%2Fsettings%2Fprofile"},
		{"/app/reports/report.json", scripted, http.StatusUnauthorized, ""},
		{"/app/x", []string{"Sec-Fetch-Mode", "no-cors", "Accept", "text/html"}, http.StatusUnauthorized, ""},
		{"/settingsx", navigate, http.StatusOK, ""}, // not under /settings
		{"/", navigate, http.StatusOK, ""},
		{"/privacy/", navigate, http.StatusOK, ""},
		{"/auth/session", append([]string{"X-CSRF", "1"}, navigate...), http.StatusUnauthorized, ""},
		{"/api/x", navigate, http.StatusForbidden, ""},
	} {
		r := s.Get(tc.path, tc.headers...)
		if r.StatusCode != tc.status || r.Header.Get("Location") != tc.where {
			t.Errorf("%s: %d to %q, want %d to %q", tc.path, r.StatusCode, r.Header.Get("Location"), tc.status, tc.where)
		}
		if r.StatusCode == http.StatusUnauthorized && r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: 401 as %q, want problem+json", tc.path, r.Header.Get("Content-Type"))
		}
	}

	// Arriving from another site the browser withholds the Strict session
	// cookie, so bff asks again from its own origin before sending anyone
	// to sign in (else a signed-in user would go round in circles).
	cross := s.Get("/app/reports?year=2026&x='q'", append([]string{"Sec-Fetch-Site", "cross-site"}, navigate...)...)
	if cross.StatusCode != http.StatusOK || !strings.Contains(cross.Text, `content="0;url=/app/reports?year=2026&amp;x=%27q%27"`) ||
		!strings.HasPrefix(cross.Header.Get("Content-Security-Policy"), "default-src 'none'") || strings.Contains(cross.Text, "<script") {
		t.Errorf("cross-site navigation to a protected page: %d %q, CSP %q", cross.StatusCode, cross.Text, cross.Header.Get("Content-Security-Policy"))
	}

	// Signing in from the redirect lands on the page asked for.
	start := s.Get(s.Get("/app/reports?year=2026", navigate...).Header.Get("Location"))
	done := s.Get(s.OP.Login(t, s.Client, start.Header.Get("Location")).RequestURI())
	if done.StatusCode != http.StatusFound || done.Header.Get("Location") != "/app/reports?year=2026" {
		t.Fatalf("after signing in: %d to %q, want /app/reports?year=2026", done.StatusCode, done.Header.Get("Location"))
	}
	page := s.Get("/app/reports?year=2026", navigate...)
	if page.StatusCode != http.StatusOK || page.Text != "<!doctype html><title>spa</title>" || page.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("the protected page, signed in: %d %q, Cache-Control %q", page.StatusCode, page.Text, page.Header.Get("Cache-Control"))
	}
	if csp := page.Header.Get("Content-Security-Policy"); csp != "default-src 'self'" {
		t.Errorf("BFF_CSP not sent: %q", csp)
	}
	if r := s.Get("/app/reports/report.json", scripted...); r.StatusCode != http.StatusOK || r.Text != `{"ok":true}` {
		t.Errorf("a protected file, signed in: %d %q", r.StatusCode, r.Text)
	}

	// With the whole SPA protected, no path makes the redirect, or the
	// returnTo it carries, leave the origin.
	all := bfftest.NewStack(t, bfftest.StackOptions{Env: map[string]string{"BFF_STATIC_DIR": spaDir(t), "BFF_PROTECTED_PATHS": "/"}})
	for _, target := range []string{"//evil.example/x", "/\\evil.example/x", "/%2F%2Fevil.example", "/.//evil.example", "/%09/evil.example"} {
		r := all.MustSend(bfftest.RawRequest{Target: target, Headers: []string{"Sec-Fetch-Mode: navigate", "Accept: text/html"}})
		loc := r.Header.Get("Location")
		if r.StatusCode >= 500 || (r.StatusCode >= 300 && r.StatusCode < 400 && loc == "") {
			t.Errorf("%s: %d", target, r.StatusCode)
		}
		for _, hop := range []string{loc, returnToOf(loc)} {
			if hop != "" && bfftest.BrowserHost(all.Public, hop) != all.Public.Host {
				t.Errorf("%s: %d to %q, which a browser follows off the origin", target, r.StatusCode, hop)
			}
		}
	}
	if r := all.Get("/healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("/healthz under a protected /: %d", r.StatusCode)
	}
}

// returnToOf is the returnTo a login redirect carries, "" when none.
func returnToOf(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	return u.Query().Get("returnTo")
}

// TestStaticDir: an SPA from BFF_STATIC_DIR as its build tools expect it
// served, through the whole server.
func TestStaticDir(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{Env: map[string]string{"BFF_STATIC_DIR": spaDir(t)}})
	for _, tc := range []struct {
		path     string
		headers  []string
		status   int
		body     string
		encoding string
	}{
		{"/orders/42", navigate, http.StatusOK, "<!doctype html><title>spa</title>", ""},
		{"/orders/42", scripted, http.StatusNotFound, "", ""},
		{"/assets/missing.js", navigate, http.StatusNotFound, "", ""},
		{"/assets/main-1f2e.js", []string{"Accept-Encoding", "gzip"}, http.StatusOK, "\x1f\x8b not really, but sent as it is", "gzip"},
		{"/assets/", navigate, http.StatusOK, "<!doctype html><title>spa</title>", ""}, // a directory: never listed
		{"/privacy/", navigate, http.StatusOK, "<p>privacy</p>", ""},
	} {
		r := s.Get(tc.path, tc.headers...)
		if r.StatusCode != tc.status || (tc.body != "" && r.Text != tc.body) || r.Header.Get("Content-Encoding") != tc.encoding {
			t.Errorf("%s %v: %d %q (encoding %q), want %d %q (%q)", tc.path, tc.headers, r.StatusCode, r.Text, r.Header.Get("Content-Encoding"), tc.status, tc.body, tc.encoding)
		}
		if strings.Contains(r.Text, "main-1f2e.js") {
			t.Errorf("%s: a directory listing", tc.path)
		}
	}
}
