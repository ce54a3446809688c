package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"bff/demo/idp"
)

// TestDemoCommand runs `bff demo` itself, as `go run . demo` does, and
// goes through what its printout promises: the SPA, a login as the printed
// user, the API through /api/, and logout.
func TestDemoCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"bff", "demo"}, env(map[string]string{"BFF_LISTEN": "127.0.0.1:0"}), &out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo exited with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("demo did not stop")
		}
	})

	var base string
	open := regexp.MustCompile(`Open\s+(http://\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for base == "" && time.Now().Before(deadline) {
		if m := open.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if base == "" {
		t.Fatalf("no URL printed:\n%s", out.String())
	}
	creds := regexp.MustCompile(`Log in as (\S+) / (\S+)`).FindStringSubmatch(out.String())
	if creds == nil {
		t.Fatalf("no credentials printed:\n%s", out.String())
	}
	client, _ := newTestBrowser(t)
	get := func(path string, headers ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for deadline := time.Now().Add(10 * time.Second); get("/readyz").StatusCode != http.StatusOK; {
		if time.Now().After(deadline) {
			t.Fatal("demo never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := get("/"); r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("SPA: %d, CSP %q", r.StatusCode, r.Header.Get("Content-Security-Policy"))
	}
	login := get("/auth/login?returnTo=/")
	cb, err := idp.Login(ctx, client, login.Header.Get("Location"), creds[1], creds[2])
	if err != nil {
		t.Fatalf("logging in with the printed credentials: %v", err)
	}
	u, _ := url.Parse(cb)
	if r := get(u.RequestURI()); r.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", r.StatusCode)
	}
	var session struct {
		Sub       string `json:"sub"`
		LogoutURL string `json:"logoutUrl"`
	}
	if err := json.NewDecoder(get("/auth/session", "X-CSRF", "1").Body).Decode(&session); err != nil || session.Sub == "" {
		t.Fatalf("session: %+v %v", session, err)
	}
	var saw struct {
		Sub       string `json:"sub"`
		ExpiresIn int    `json:"expiresIn"`
	}
	api := get("/api/whoami", "X-CSRF", "1")
	if err := json.NewDecoder(api.Body).Decode(&saw); err != nil || saw.Sub != session.Sub || saw.ExpiresIn <= 0 || saw.ExpiresIn > 60 {
		t.Fatalf("demo API: %d %+v %v", api.StatusCode, saw, err)
	}
	logout := get(session.LogoutURL)
	if logout.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", logout.StatusCode)
	}
	if r := get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout: %d", r.StatusCode)
	}
}
