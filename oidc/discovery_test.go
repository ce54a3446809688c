package oidc_test

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"bff/oidc"
)

// callLog is an http.RoundTripper that remembers the path of every call
// bff makes to the IdP.
type callLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *callLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.paths = append(l.paths, r.URL.Path)
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.paths
	l.paths = nil
	return p
}

// documentOf is the issuer's discovery document, parsed.
func documentOf(t *testing.T, issuer string) *oidc.Discovery {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	d, err := oidc.ParseDiscovery(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDiscoveryDocument: given the discovery document, an Auth is ready
// from New without a call to the IdP; the JWKS is fetched only when the
// first ID token is verified, at the callback, and then the whole flow
// works as after discovery.
func TestDiscoveryDocument(t *testing.T) {
	calls := &callLog{}
	e := newEnv(t, func(c *oidc.Config) {
		c.Discovery = documentOf(t, c.Issuer)
		c.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: calls}
	})
	if !e.auth.Ready() {
		t.Fatal("not ready with a discovery document")
	}
	e.startLogin("/")
	if got := calls.take(); len(got) != 0 {
		t.Fatalf("calls to the IdP before the callback: %q", got)
	}
	e.login()
	got := calls.take()
	if slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, "well-known") }) ||
		!slices.ContainsFunc(got, func(p string) bool { return strings.HasSuffix(p, "/keys") }) {
		t.Errorf("calls at the callback: %q; want the JWKS and no discovery", got)
	}
	if r := e.get("/api/x"); r.StatusCode != http.StatusOK {
		t.Errorf("the session: %d", r.StatusCode)
	}
}

func TestParseDiscovery(t *testing.T) {
	good := `{"issuer":"https://idp.example","authorization_endpoint":"https://idp.example/a","token_endpoint":"https://idp.example/t","jwks_uri":"https://idp.example/k"`
	for doc, ok := range map[string]bool{
		good + `}`: true,
		good + `,"token_endpoint_auth_methods_supported":["client_secret_post"]}`: true,
		good + `,"token_endpoint_auth_methods_supported":["private_key_jwt"]}`:    false,
		good + `,"id_token_signing_alg_values_supported":["none","RS256"]}`:       true,
		`{"issuer":"https://idp.example"}`:                                        false,
		strings.Replace(good, "https://idp.example/t", "/t", 1) + `}`:             false,
		good:             false, // cut short
		`<html></html>`:  false,
		`[]`:             false,
		`{"issuer":5}`:   false,
		``:               false,
		`{"issuer":""}`:  false,
		good + `,"x":1}`: true,
	} {
		d, err := oidc.ParseDiscovery([]byte(doc))
		if (err == nil) != ok {
			t.Errorf("%.80s: %v, want ok %v", doc, err, ok)
		}
		if err == nil && d.Issuer != "https://idp.example" {
			t.Errorf("%.80s: issuer %q", doc, d.Issuer)
		}
	}
}
