package interop

import (
	"net/http"
	"testing"

	"bff/internal/bfftest"
	"bff/internal/bfftest/hydra"
	"bff/internal/endpoint"
)

// testSilentSignIn signs in with prompt=none. Without a login session at
// Hydra, Hydra answers login_required, and bff sends the browser back to
// returnTo with no session. Once the user has signed in, and the consent
// app has remembered this client's consent, Hydra issues a code without a
// screen, and bff's session is back without the user doing anything.
func testSilentSignIn(t *testing.T, h *hydra.Hydra) {
	s := bfftest.NewStack(t, bfftest.StackOptions{IdP: h.IdP})
	silent := func() bfftest.Response {
		t.Helper()
		start := s.Get(endpoint.Login + "?prompt=none&returnTo=/app")
		return s.Get(h.Follow(t, s.Client, start.Header.Get("Location")).RequestURI())
	}
	if r := silent(); r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/app" || len(s.SessionCookies()) != 0 {
		t.Fatalf("silent sign-in without a Hydra session: %d to %q with %d session cookies; want 302 to /app and none",
			r.StatusCode, r.Header.Get("Location"), len(s.SessionCookies()))
	}

	s.Login()
	for _, c := range s.SessionCookies() { // bff's session gone, Hydra's kept
		s.Jar.SetCookies(s.Public, []*http.Cookie{{Name: c.Name, Path: "/", MaxAge: -1}})
	}
	if len(s.SessionCookies()) != 0 {
		t.Fatal("could not drop bff's session from the jar")
	}
	if r := silent(); r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/app" || len(s.SessionCookies()) == 0 {
		t.Fatalf("silent sign-in with a Hydra session: %d to %q; want 302 to /app with a session", r.StatusCode, r.Header.Get("Location"))
	}
	if r := s.API(endpoint.Session); r.StatusCode != http.StatusOK {
		t.Errorf("/auth/session after the silent sign-in: %d", r.StatusCode)
	}
}
