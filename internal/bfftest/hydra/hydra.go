// Package hydra runs Ory Hydra, an OpenID provider nobody here wrote, for
// bff's interoperability suite: its public and admin listeners on free
// loopback ports with in-memory storage, clients registered through its
// admin API, and a small login, consent and logout app that accepts every
// challenge for one user. Nothing outside tests imports it.
package hydra

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
	"bff/internal/config"
	"bff/internal/endpoint"
)

// Version is the Hydra release .ci/build-hydra builds.
const Version = "v2.3.0"

// EnvBinary names the variable that holds the Hydra binary's path; .ci/run
// sets it to what .ci/build-hydra built.
const EnvBinary = "HYDRA_BIN"

// Require returns the Hydra binary to run: $HYDRA_BIN, else the one
// .ci/build-hydra caches. Without one it skips the test, or fails it on CI
// (CI=true) or when HYDRA_BIN names nothing runnable.
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test starts Ory Hydra")
	}
	if p := os.Getenv(EnvBinary); p != "" {
		if !executable(p) {
			t.Fatalf("%s=%s is not an executable file", EnvBinary, p)
		}
		return p
	}
	p := CachePath()
	if executable(p) {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but there is no Hydra at %s: .ci/run must run .ci/build-hydra and set %s", p, EnvBinary)
	}
	t.Skipf("no Ory Hydra %s binary (%s is unset and %s does not exist): run `bash .ci/build-hydra` once to build it", Version, EnvBinary, p)
	return ""
}

// CachePath is where .ci/build-hydra leaves the binary.
func CachePath() string {
	dir, err := os.UserCacheDir() // $XDG_CACHE_HOME, else $HOME/.cache
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "bff-ci", "hydra-"+Version, "hydra")
}

func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Options shape a Hydra. The zero value is Hydra's defaults.
type Options struct {
	AccessTTL time.Duration // TTL_ACCESS_TOKEN; 0 is Hydra's 1 h
	// RotationGrace is how long a used refresh token stays valid
	// (oauth2.grant.refresh_token.rotation_grace_period); 0 is strict
	// rotation.
	RotationGrace time.Duration
}

// Hydra is a running Hydra with its login, consent and logout app.
type Hydra struct {
	// Issuer is as configured, with the trailing slash Hydra's default
	// issuer has; its discovery document and tokens say exactly this.
	Issuer string
	Public string // the public listener's origin
	Admin  string // the admin listener's origin
	User   User
	// Logouts counts the logout challenges the app accepted.
	Logouts atomic.Int32
	proc    *bfftest.Process
	app     *httptest.Server
	http    *http.Client
}

// User is whom the login app signs in, and the claims its consent puts in
// the ID token.
type User struct {
	Subject string
	Claims  map[string]any
}

// Start runs Hydra until the test ends and waits until it is ready.
func Start(t testing.TB, o Options) *Hydra {
	t.Helper()
	bin := Require(t)
	h := &Hydra{
		User: User{Subject: "alice", Claims: map[string]any{"email": "alice@example.com", "email_verified": true, "name": "Alice Example"}},
		http: &http.Client{Timeout: 60 * time.Second},
	}
	h.app = httptest.NewServer(h.flows())
	t.Cleanup(h.app.Close)
	public, admin := kit.ClosedPort(t), kit.ClosedPort(t)
	h.Public, h.Admin = "http://"+public, "http://"+admin
	h.Issuer = h.Public + "/"
	env := map[string]string{
		"DSN":               "memory",
		"SERVE_PUBLIC_HOST": "127.0.0.1", "SERVE_PUBLIC_PORT": port(public),
		"SERVE_ADMIN_HOST": "127.0.0.1", "SERVE_ADMIN_PORT": port(admin),
		"URLS_SELF_ISSUER": h.Issuer,
		"URLS_LOGIN":       h.app.URL + "/login",
		"URLS_CONSENT":     h.app.URL + "/consent",
		"URLS_LOGOUT":      h.app.URL + "/logout",
		"SECRETS_SYSTEM":   rand.Text(),
		"LOG_LEVEL":        "info",
	}
	if o.AccessTTL > 0 {
		env["TTL_ACCESS_TOKEN"] = o.AccessTTL.String()
	}
	if o.RotationGrace > 0 {
		env["OAUTH2_GRANT_REFRESH_TOKEN_ROTATION_GRACE_PERIOD"] = o.RotationGrace.String()
	}
	// --dev allows an http issuer on loopback; --sqa-opt-out keeps Hydra
	// from reporting usage to Ory.
	h.proc = bfftest.StartProcess(t, bin, env, "serve", "all", "--dev", "--sqa-opt-out")
	t.Cleanup(func() {
		if t.Failed() {
			logs := h.proc.Stderr.String()
			t.Logf("hydra's log (last 16 KiB):\n%s", logs[max(0, len(logs)-16<<10):])
		}
	})
	h.waitReady(t)
	return h
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// waitReady waits for both listeners, then for Hydra's signing key, which
// Hydra makes at the first request for it: seconds on a busy machine,
// which then count as Hydra's start instead of as the first sign-in.
func (h *Hydra) waitReady(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if h.ready(h.Public+"/health/ready") && h.ready(h.Admin+"/health/ready") && h.ready(h.Public+"/.well-known/jwks.json") {
			return
		}
		if exited, err := h.proc.Exited(); exited {
			t.Fatalf("hydra exited (%v) before it was ready:\n%s", err, h.proc.Stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("hydra not ready within 60 s:\n%s", h.proc.Stderr.String())
		}
	}
}

func (h *Hydra) ready(url string) bool {
	resp, err := h.http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Client is an OAuth 2.0 client registered at Hydra.
type Client struct{ ID, Secret string }

// ClientOptions shape a client. The zero value is bff's client as
// docs/idp-setup.md registers it.
type ClientOptions struct {
	// AuthMethod is the client's token_endpoint_auth_method; "" leaves
	// Hydra's default, client_secret_basic.
	AuthMethod string
	// Scope is the scopes the client may ask for; "" is bff's default
	// BFF_SCOPES.
	Scope string
}

// Register creates, through POST /admin/clients, the confidential client
// of bff deployed at public as docs/idp-setup.md registers it:
// authorization code and refresh token grants, bff's default scopes, its
// callback, post-logout and back-channel logout URLs.
func (h *Hydra) Register(t testing.TB, public *url.URL, o ClientOptions) Client {
	t.Helper()
	in := map[string]any{
		"client_secret":                       rand.Text(),
		"grant_types":                         []string{"authorization_code", "refresh_token"},
		"response_types":                      []string{"code"},
		"scope":                               cmp.Or(o.Scope, config.DefaultScopes),
		"redirect_uris":                       []string{public.JoinPath(endpoint.Callback).String()},
		"post_logout_redirect_uris":           []string{public.JoinPath("/").String()},
		"backchannel_logout_uri":              public.JoinPath(endpoint.BackchannelLogout).String(),
		"backchannel_logout_session_required": true,
	}
	if o.AuthMethod != "" {
		in["token_endpoint_auth_method"] = o.AuthMethod
	}
	var out struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := h.admin(http.MethodPost, "/admin/clients", in, &out); err != nil {
		t.Fatal(err)
	}
	if out.ID == "" || out.Secret != in["client_secret"] {
		t.Fatalf("POST /admin/clients answered client %q with another secret", out.ID)
	}
	return Client(out)
}

// IdP registers bff deployed at public with the default [ClientOptions]
// and returns Hydra as a [bfftest.Stack] uses it.
func (h *Hydra) IdP(t testing.TB, public *url.URL) bfftest.IdP {
	t.Helper()
	return h.IdPWith(ClientOptions{})(t, public)
}

// IdPWith is [Hydra.IdP] for a client registered with o.
func (h *Hydra) IdPWith(o ClientOptions) func(testing.TB, *url.URL) bfftest.IdP {
	return func(t testing.TB, public *url.URL) bfftest.IdP {
		t.Helper()
		c := h.Register(t, public, o)
		return bfftest.IdP{Issuer: h.Issuer, ClientID: c.ID, ClientSecret: c.Secret, Login: h.Login}
	}
}

// Introspection is Hydra's word on a token (RFC 7662).
type Introspection struct {
	Active   bool   `json:"active"`
	Subject  string `json:"sub"`
	ClientID string `json:"client_id"`
	TokenUse string `json:"token_use"` // access_token or refresh_token
	Scope    string `json:"scope"`
}

// Introspect asks Hydra's admin API about token.
func (h *Hydra) Introspect(t testing.TB, token string) Introspection {
	t.Helper()
	resp, err := h.http.PostForm(h.Admin+"/admin/oauth2/introspect", url.Values{"token": {token}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var in Introspection
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&in) != nil {
		t.Fatalf("introspection answered %d", resp.StatusCode)
	}
	return in
}

// admin sends in (unless nil) as JSON to Hydra's admin API and decodes
// the answer into out.
func (h *Hydra) admin(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.Admin+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.http.Do(req)
	if err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("hydra admin %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("hydra admin %s %s: %w", method, path, err)
	}
	return nil
}

// maxRedirects bounds a browser's way through Hydra and its app.
const maxRedirects = 10

// Login signs [Hydra.User] in as a browser does, from the authorize URL
// bff redirected to, through Hydra and the login and consent app, and
// returns the URL Hydra sends the browser back to: bff's callback.
func (h *Hydra) Login(t testing.TB, client *http.Client, authorizeURL string) *url.URL {
	t.Helper()
	return h.Follow(t, client, authorizeURL)
}

// Follow requests target with client and follows the redirects a browser
// would while they stay at Hydra or its app, and returns the first URL
// elsewhere. Any answer there but a redirect fails the test.
func (h *Hydra) Follow(t testing.TB, client *http.Client, target string) *url.URL {
	t.Helper()
	here := map[string]bool{bfftest.MustURL(t, h.Public).Host: true, bfftest.MustURL(t, h.app.URL).Host: true}
	u := bfftest.MustURL(t, target)
	for range maxRedirects {
		if !here[u.Host] {
			return u
		}
		r := bfftest.Get(t, client, "", u.String())
		loc := r.Header.Get("Location")
		if r.StatusCode/100 != 3 || loc == "" {
			t.Fatalf("%s %s answered %d: %s", u.Host, u.Path, r.StatusCode, r.Text)
		}
		u = u.ResolveReference(bfftest.MustURL(t, loc))
	}
	t.Fatalf("more than %d redirects at Hydra", maxRedirects)
	return nil
}

// Log is what Hydra has logged so far.
func (h *Hydra) Log() string { return h.proc.Stderr.String() }
