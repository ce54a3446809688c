package lambda

import (
	"net/http"
	"testing"

	"bff/internal/bfftest"
)

func TestMain(m *testing.M) { bfftest.RedisMain(m) }

// TestFunctionWithRedis: a function that can be frozen between
// invocations reads Redis through, with no client-side cache to miss an
// invalidation, and logout everywhere holds: a copy of the cookie taken
// before the logout gets 401 at the next invocation.
func TestFunctionWithRedis(t *testing.T) {
	t.Parallel()
	db := bfftest.RedisDB(t)
	f := deploy(t, bfftest.Build(t), options{Discovery: true, Env: map[string]string{"BFF_REDIS_URL": db.URL}})
	f.login(t)
	if r := f.call(t, "/api/x"); r.StatusCode != http.StatusOK {
		t.Fatalf("api: %d %s", r.StatusCode, r.Text)
	}
	copied := f.Jar.Cookies(public)
	logout := bfftest.LogoutURL(t, f.call(t, "/auth/session"))
	if r := f.get(t, logout); r.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	other, jar := f.FunctionURL.Client(t)
	jar.SetCookies(public, copied)
	if r := bfftest.Get(t, other, public.String(), "/api/x", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a copy of the cookie after logout: %d, want 401", r.StatusCode)
	}
	if len(db.Keys()) == 0 {
		t.Error("the function wrote nothing to Redis")
	}
}
