package redis_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"bff/demo/idp/idptest"
	"bff/internal/bfftest"
)

// TestDemoWithRedis runs `bff demo` with BFF_REDIS_URL and does what its
// printout suggests: sign in, then sign out at the identity provider's
// own page; the OP tells bff over the back channel and the session is
// over.
func TestDemoWithRedis(t *testing.T) {
	db := bfftest.RedisDB(t)
	bin := bfftest.Build(t)
	demo := bfftest.StartProcess(t, bin, map[string]string{"BFF_LISTEN": "127.0.0.1:0", "BFF_REDIS_URL": db.URL}, "demo")
	base := demo.WaitFor(t, regexp.MustCompile(`Open\s+(http://\S+)`), 10*time.Second)[1]
	creds := demo.WaitFor(t, regexp.MustCompile(`Log in as (\S+) / (\S+)`), time.Second)
	account := demo.WaitFor(t, regexp.MustCompile(`identity provider \((http://\S+)\) ends the session`), time.Second)[1]
	client, _ := bfftest.NewClient(t)
	get := func(path string, headers ...string) bfftest.Response {
		t.Helper()
		return bfftest.Get(t, client, base, path, headers...)
	}
	if err := bfftest.WaitReady(strings.TrimPrefix(base, "http://"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	login := get("/auth/login?returnTo=/")
	cb, err := idptest.Login(t.Context(), client, login.Header.Get("Location"), creds[1], creds[2])
	if err != nil {
		t.Fatal(err)
	}
	if r := get(strings.TrimPrefix(cb, base)); r.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", r.StatusCode)
	}
	if r := get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusOK {
		t.Fatalf("session: %d", r.StatusCode)
	}
	if page := get(account); !strings.Contains(page.Text, "Signed in as") {
		t.Fatalf("the OP's account page: %d\n%s", page.StatusCode, page.Text)
	}
	page := bfftest.Do(t, client, http.MethodPost, base, strings.TrimSuffix(account, "/account")+"/signout", nil)
	if !strings.Contains(page.Text, "the application was told") {
		t.Fatalf("signing out at the OP: %d\n%s", page.StatusCode, page.Text)
	}
	if r := get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the demo session after signing out at the OP: %d, want 401", r.StatusCode)
	}
}
