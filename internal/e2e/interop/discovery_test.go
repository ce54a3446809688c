package interop

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/hydra"
	"bff/internal/bfftest/kit"
	"bff/internal/endpoint"
	"bff/internal/server"
)

// testDiscovery checks what bff relies on in Hydra's discovery document,
// where it differs from the in-process OP's.
func testDiscovery(t *testing.T, h *hydra.Hydra) {
	c, _ := bfftest.NewClient(t)
	r := bfftest.Get(t, c, "", h.Issuer+".well-known/openid-configuration")
	var doc struct {
		Issuer string   `json:"issuer"`
		Scopes []string `json:"scopes_supported"`
	}
	decode(t, r.Text, &doc)
	// Exactly as configured, trailing slash included: bff's BFF_ISSUER
	// must be spelled the same (testIssuerMismatch).
	if doc.Issuer != h.Issuer {
		t.Errorf("issuer %q, configured %q", doc.Issuer, h.Issuer)
	}
	// profile and email are not listed, yet Hydra grants them to a client
	// registered with them (testFlow's proxied call).
	if slices.Contains(doc.Scopes, "profile") || slices.Contains(doc.Scopes, "email") {
		t.Errorf("scopes_supported %v now lists profile or email", doc.Scopes)
	}
}

// testIssuerMismatch runs bff with Hydra's issuer less its trailing slash:
// discovery fails on the issuer, and bff stays unready instead of
// accepting tokens from an issuer it was not told of.
func testIssuerMismatch(t *testing.T, h *hydra.Hydra) {
	public := &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	env := h.IdP(t, public).Env(public, bfftest.NewKey(t))
	env["BFF_ISSUER"] = strings.TrimSuffix(h.Issuer, "/")
	logs := &kit.Buffer{}
	srv, err := server.New(bfftest.Load(t, env), slog.New(slog.NewJSONHandler(logs, nil)), server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := bfftest.Serve(t, srv)
	if !bfftest.Eventually(20*time.Second, func() bool { return strings.Contains(logs.String(), "identity provider discovery failed") }) {
		t.Fatalf("no failed discovery logged within 20 s:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "did not match the issuer URL returned by provider") {
		t.Errorf("the failed discovery does not name the issuer:\n%s", logs)
	}
	c, _ := bfftest.NewClient(t)
	if r := bfftest.Get(t, c, "http://"+addr, endpoint.Ready); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz: %d, want 503", r.StatusCode)
	}
}

// testPostClient signs in with a client registered for
// client_secret_post. Hydra's discovery lists both secret methods, so bff
// authenticates with HTTP Basic, and Hydra, which holds a client to the
// one method it registered, refuses the code exchange: such a client
// cannot sign in (docs/idp-setup.md says to keep Hydra's default).
func testPostClient(t *testing.T, h *hydra.Hydra) {
	s := bfftest.NewStack(t, bfftest.StackOptions{IdP: h.IdPWith(hydra.ClientOptions{AuthMethod: "client_secret_post"})})
	start := s.Get(endpoint.Login + "?returnTo=/")
	cb := h.Login(t, s.Client, start.Header.Get("Location"))
	r := s.Get(cb.RequestURI())
	if r.StatusCode != http.StatusBadRequest || len(s.SessionCookies()) != 0 {
		t.Errorf("callback: %d with %d session cookies, want 400 and none", r.StatusCode, len(s.SessionCookies()))
	}
	if !strings.Contains(s.Logs.String(), "token endpoint answered 401 invalid_client") {
		t.Error("bff did not log Hydra's 401 invalid_client")
	}
}

// testNarrowClient signs in with bff's default scopes through a client
// registered for openid and offline_access only: Hydra refuses the
// authorization request with invalid_scope, whatever its discovery
// document lists, and bff answers the callback 400 with no session.
func testNarrowClient(t *testing.T, h *hydra.Hydra) {
	s := bfftest.NewStack(t, bfftest.StackOptions{IdP: h.IdPWith(hydra.ClientOptions{Scope: "openid offline_access"})})
	start := s.Get(endpoint.Login + "?returnTo=/")
	cb := h.Follow(t, s.Client, start.Header.Get("Location"))
	if got := cb.Query().Get("error"); got != "invalid_scope" {
		t.Errorf("Hydra answered the authorization request with error %q, want invalid_scope", got)
	}
	if r := s.Get(cb.RequestURI()); r.StatusCode != http.StatusBadRequest || len(s.SessionCookies()) != 0 {
		t.Errorf("callback: %d with %d session cookies, want 400 and none", r.StatusCode, len(s.SessionCookies()))
	}
}
