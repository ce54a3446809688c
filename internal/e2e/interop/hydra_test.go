// Package interop runs bff, as the production server, against an OpenID
// provider that nobody here wrote: Ory Hydra, built by .ci/build-hydra.
// The in-process OP of the other suites is written with bff's own
// assumptions; this one holds bff to someone else's.
package interop

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/hydra"
	"bff/oidc"
)

// accessTTL is Hydra's TTL_ACCESS_TOKEN here. bff judges expiry by the
// expires_in Hydra sends, on the stack's clock, which the tests move past
// it instead of waiting; it is longer than bff's 30 s refresh margin, so a
// fresh token is used as it is.
const accessTTL = time.Minute

// TestHydra starts one Hydra, with strict refresh-token rotation, and runs
// each scenario against it with a client and a bff deployment of its own.
func TestHydra(t *testing.T) {
	h := hydra.Start(t, hydra.Options{AccessTTL: accessTTL})
	scenarios := []struct {
		name string
		run  func(*testing.T, *hydra.Hydra)
	}{
		{"flow", testFlow},
		{"silent sign-in", testSilentSignIn},
		{"discovery", testDiscovery},
		{"issuer without its trailing slash", testIssuerMismatch},
		{"client_secret_post client", testPostClient},
		{"client without bff's scopes", testNarrowClient},
		{"replayed refresh token", testReplayedRefreshToken},
		{"racing replicas", func(t *testing.T, h *hydra.Hydra) { testRacingReplicas(t, h, false) }},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, h) })
	}
}

// TestHydraRotationGrace runs against a Hydra that keeps a used refresh
// token valid for 30 s, as docs/idp-setup.md advises for several replicas
// without Redis.
func TestHydraRotationGrace(t *testing.T) {
	h := hydra.Start(t, hydra.Options{AccessTTL: accessTTL, RotationGrace: 30 * time.Second})
	testRacingReplicas(t, h, true)
}

// testFlow is one user's whole session, step by step: each step needs the
// one before it.
func testFlow(t *testing.T, h *hydra.Hydra) {
	s := bfftest.NewStack(t, bfftest.StackOptions{IdP: h.IdP})
	var signedIn *oidc.Session
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"sign-in with PKCE", func(t *testing.T) { signedIn = signIn(t, h, s) }},
		{"session identity", func(t *testing.T) { identity(t, h, s) }},
		{"proxied call", func(t *testing.T) { proxiedCall(t, h, s, signedIn.AccessToken) }},
		{"refresh", func(t *testing.T) { refresh(t, h, s, signedIn) }},
		{"logout", func(t *testing.T) { logout(t, h, s) }},
	}
	for _, step := range steps {
		if !t.Run(step.name, step.run) {
			return
		}
	}
}

func signIn(t *testing.T, h *hydra.Hydra, s *bfftest.Stack) *oidc.Session {
	start := s.Login()[0]
	authz := bfftest.MustURL(t, start.Header.Get("Location"))
	q := authz.Query()
	if got := authz.Scheme + "://" + authz.Host + authz.Path; got != h.Public+"/oauth2/auth" {
		t.Errorf("bff sent the browser to %s, not Hydra's authorize endpoint", got)
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		t.Errorf("authorize request without an S256 PKCE challenge: %v", q)
	}
	// Hydra refuses a state of fewer than 8 characters.
	if len(q.Get("state")) < 8 {
		t.Errorf("state %q is shorter than Hydra accepts", q.Get("state"))
	}
	sess := s.Session()
	if sess == nil {
		t.Fatal("signed in, but the client holds no session")
	}
	// Hydra's access and refresh tokens are opaque; the ID token is a JWT.
	for name, tok := range map[string]string{"access": sess.AccessToken, "refresh": sess.RefreshToken} {
		if tok == "" || strings.Count(tok, ".") == 2 {
			t.Errorf("%s token is empty or a JWT; Hydra's are opaque", name)
		}
	}
	if strings.Count(sess.IDToken, ".") != 2 {
		t.Error("the ID token is not a compact JWT")
	}
	return sess
}

func identity(t *testing.T, h *hydra.Hydra, s *bfftest.Stack) {
	r := s.API("/auth/session")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("/auth/session: %d %s", r.StatusCode, r.Text)
	}
	var got struct {
		Sub    string         `json:"sub"`
		Claims map[string]any `json:"claims"`
	}
	decode(t, r.Text, &got)
	if got.Sub != h.User.Subject {
		t.Errorf("sub %q, want %q", got.Sub, h.User.Subject)
	}
	for k, v := range h.User.Claims {
		if got.Claims[k] != v {
			t.Errorf("claim %s = %v, want %v (from the consent's id_token session)", k, got.Claims[k], v)
		}
	}
	for _, k := range []string{"iss", "aud", "nonce", "sid", "at_hash"} {
		if _, ok := got.Claims[k]; ok {
			t.Errorf("protocol claim %s reached the SPA", k)
		}
	}
}

// proxiedCall checks that the upstream gets want as its bearer, and that
// Hydra says it is an active access token of this user and client.
func proxiedCall(t *testing.T, h *hydra.Hydra, s *bfftest.Stack, want string) {
	s.Upstream.Drain()
	if r := s.API("/api/orders"); r.StatusCode != http.StatusOK {
		t.Fatalf("api: %d %s", r.StatusCode, r.Text)
	}
	tok, _ := strings.CutPrefix(s.Upstream.Last(t).Authorization, "Bearer ")
	if tok != want {
		t.Fatal("the upstream's bearer is not the session's access token")
	}
	in := h.Introspect(t, tok)
	if !in.Active || in.TokenUse != "access_token" || in.Subject != h.User.Subject || in.ClientID != s.IdP.ClientID {
		t.Errorf("Hydra's introspection of the upstream's bearer: %+v", in)
	}
	// Granted although Hydra's discovery document does not list them.
	for _, scope := range []string{"openid", "offline_access", "profile", "email"} {
		if !slices.Contains(strings.Fields(in.Scope), scope) {
			t.Errorf("the access token's scope %q lacks %s", in.Scope, scope)
		}
	}
}

// refresh moves bff's clock past the access token's expiry: the next call
// refreshes at Hydra, whose strict rotation retires the refresh token used.
func refresh(t *testing.T, h *hydra.Hydra, s *bfftest.Stack, old *oidc.Session) {
	s.Clock.Advance(accessTTL)
	r := s.API("/api/orders")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("api after expiry: %d %s", r.StatusCode, r.Text)
	}
	now := s.Session()
	if now.AccessToken == old.AccessToken || now.RefreshToken == old.RefreshToken {
		t.Fatal("no new tokens after expiry")
	}
	// Hydra retires the access token issued with the used refresh token
	// too, unlike the in-process OP.
	for name, tok := range map[string]string{"refresh": old.RefreshToken, "access": old.AccessToken} {
		if h.Introspect(t, tok).Active {
			t.Errorf("the %s token from before the refresh is still active at Hydra", name)
		}
	}
	if in := h.Introspect(t, now.RefreshToken); !in.Active || in.TokenUse != "refresh_token" {
		t.Errorf("the new refresh token: %+v", in)
	}
	proxiedCall(t, h, s, now.AccessToken)
}

// logout ends the session at bff and, through Hydra's end-session endpoint
// and the logout app, at Hydra, and revokes the refresh token.
func logout(t *testing.T, h *hydra.Hydra, s *bfftest.Stack) {
	sess := s.Session()
	r := s.Get(s.LogoutURL())
	if r.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Text)
	}
	if len(s.SessionCookies()) != 0 {
		t.Error("session cookies left after logout")
	}
	endSession := bfftest.MustURL(t, r.Header.Get("Location"))
	if got := endSession.Scheme + "://" + endSession.Host + endSession.Path; got != h.Public+"/oauth2/sessions/logout" {
		t.Fatalf("logout redirected to %s, not Hydra's end-session endpoint", got)
	}
	landed := h.Follow(t, s.Client, endSession.String())
	if landed.String() != s.Public.String()+"/" {
		t.Errorf("after Hydra's logout the browser lands on %s, want %s/", landed, s.Public)
	}
	if n := h.Logouts.Load(); n != 1 {
		t.Errorf("the logout app accepted %d logout challenges, want 1", n)
	}
	// Revoking the refresh token revokes the access token issued with it.
	for name, tok := range map[string]string{"refresh": sess.RefreshToken, "access": sess.AccessToken} {
		if h.Introspect(t, tok).Active {
			t.Errorf("the %s token is still active at Hydra after logout", name)
		}
	}
	if strings.Contains(s.Logs.String(), "revoking refresh token failed") {
		t.Error("bff logged a failed revocation")
	}
	// Without Redis bff has no back-channel logout endpoint: Hydra's
	// delivery to the registered URL fails, which it logs, and the logout
	// has gone on regardless.
	if !bfftest.Eventually(10*time.Second, func() bool { return backchannelRefused(h.Log(), s.IdP.ClientID) }) {
		t.Fatal("Hydra logged no back-channel logout delivery answered 404")
	}
	if r := s.API("/auth/session"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("/auth/session after logout: %d, want 401", r.StatusCode)
	}
}

// backchannelRefused reports whether Hydra logged a back-channel logout
// delivery to client's URL answered 404.
func backchannelRefused(log, client string) bool {
	for l := range strings.Lines(log) {
		if strings.Contains(l, "Back-Channel Logout Request") && strings.Contains(l, "client_id="+client) && strings.Contains(l, "got 404") {
			return true
		}
	}
	return false
}
