package e2e

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"bff/demo/idp/idptest"
	"bff/internal/bfftest"
	"bff/internal/config"
)

// TestCommands runs the built binary's commands as an operator would.
func TestCommands(t *testing.T) {
	bin := bfftest.Build(t)
	if code, out, _ := bfftest.Run(t, bin, nil, "version"); code != 0 || out != "bff "+bfftest.Version+"\n" {
		t.Errorf("bff version: exit %d, %q", code, out)
	}
	code, out, _ := bfftest.Run(t, bin, nil, "keygen")
	if raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimSpace(out)); code != 0 || err != nil || len(raw) != 32 {
		t.Errorf("bff keygen: exit %d, %q: want base64url of 32 bytes", code, out)
	}
	for _, arg := range []string{"help", "-h", "--help"} {
		code, out, _ := bfftest.Run(t, bin, nil, arg)
		if code != 0 || !strings.Contains(out, "demo") {
			t.Errorf("bff %s: exit %d, %q", arg, code, out)
		}
		for _, v := range config.Variables() {
			if !strings.Contains(out, v.Name) {
				t.Errorf("bff %s does not list %s", arg, v.Name)
			}
		}
	}
	for _, args := range [][]string{{"frobnicate"}, {"version", "extra"}} {
		code, out, stderr := bfftest.Run(t, bin, nil, args...)
		if code != 2 || out != "" || !strings.Contains(stderr, args[len(args)-1]) || !strings.Contains(stderr, "BFF_ISSUER") {
			t.Errorf("bff %q: exit %d, stdout %q, stderr %q; want 2 and the help on stderr", args, code, out, stderr)
		}
	}
	if code, _, stderr := bfftest.Run(t, bin, nil); code != 1 || !strings.Contains(stderr, "BFF_ISSUER") {
		t.Errorf("serve with no configuration: exit %d, %q; want 1 and a message naming BFF_ISSUER", code, stderr)
	}
	// The demo prints its user's password: it serves this machine alone.
	code, out, stderr := bfftest.Run(t, bin, map[string]string{"BFF_LISTEN": "0.0.0.0:0"}, "demo")
	if code != 1 || !strings.Contains(stderr, "BFF_LISTEN") || strings.Contains(out, "Log in as") {
		t.Errorf("bff demo on 0.0.0.0: exit %d, stdout %q, stderr %q; want 1 and a message naming BFF_LISTEN", code, out, stderr)
	}
}

// TestDemoCommand runs `bff demo` itself, as `go run . demo` does, and
// goes through what its printout promises: the SPA, a login as the printed
// user, the API through /api/, and logout.
func TestDemoCommand(t *testing.T) {
	bin := bfftest.Build(t)
	demo := bfftest.StartProcess(t, bin, map[string]string{"BFF_LISTEN": "127.0.0.1:0"}, "demo")
	base := demo.WaitFor(t, regexp.MustCompile(`Open\s+(http://\S+)`), 10*time.Second)[1]
	creds := demo.WaitFor(t, regexp.MustCompile(`Log in as (\S+) / (\S+)`), time.Second)
	client, _ := bfftest.NewClient(t)
	get := func(path string, headers ...string) bfftest.Response {
		t.Helper()
		return bfftest.Get(t, client, base, path, headers...)
	}
	if !bfftest.Eventually(10*time.Second, func() bool { return get("/readyz").StatusCode == http.StatusOK }) {
		t.Fatal("demo never became ready")
	}
	if r := get("/"); r.StatusCode != http.StatusOK || !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("SPA: %d, CSP %q", r.StatusCode, r.Header.Get("Content-Security-Policy"))
	}
	login := get("/auth/login?returnTo=/")
	cb, err := idptest.Login(t.Context(), client, login.Header.Get("Location"), creds[1], creds[2])
	if err != nil {
		t.Fatalf("logging in with the printed credentials: %v", err)
	}
	if r := get(strings.TrimPrefix(cb, base)); r.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", r.StatusCode)
	}
	var session struct {
		Sub string `json:"sub"`
	}
	sessionResp := get("/auth/session", "X-CSRF", "1")
	if err := json.Unmarshal([]byte(sessionResp.Text), &session); err != nil || session.Sub == "" {
		t.Fatalf("session: %+v %v", session, err)
	}
	var saw struct {
		Sub       string `json:"sub"`
		ExpiresIn int    `json:"expiresIn"`
	}
	api := get("/api/whoami", "X-CSRF", "1")
	if err := json.Unmarshal([]byte(api.Text), &saw); err != nil || saw.Sub != session.Sub || saw.ExpiresIn <= 0 || saw.ExpiresIn > 60 {
		t.Fatalf("demo API: %d %+v %v", api.StatusCode, saw, err)
	}
	if logout := get(bfftest.LogoutURL(t, sessionResp)); logout.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", logout.StatusCode)
	}
	if r := get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout: %d", r.StatusCode)
	}
	// The demo limits logins as the real server does (30 a minute).
	limited := false
	for range 20 {
		if r := get("/auth/login?returnTo=/"); r.StatusCode == http.StatusTooManyRequests && r.Header.Get("Retry-After") != "" {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("20 logins in a row were never limited: the demo runs without the login rate limit")
	}
}
