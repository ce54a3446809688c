package oidc_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"bff/cookie"
	"bff/demo/idp"
	"bff/internal/testutil"
	"bff/oidc"
)

// Shared test helpers, under the names this package's tests use.
type syncBuffer = testutil.SyncBuffer
type clock = testutil.Clock

// env is one OP and one bff /auth/ handler on loopback, with a browser-like
// client that keeps cookies and does not follow redirects.
type env struct {
	t       *testing.T
	op      *idp.Provider
	opURL   string
	auth    *oidc.Auth
	bff     *httptest.Server
	public  *url.URL
	client  *http.Client
	jar     http.CookieJar
	clock   *clock
	logs    *syncBuffer
	cfg     oidc.Config
	opServe *httptest.Server
}

type envOption func(*oidc.Config, *idp.Config)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{}, logs: &syncBuffer{}}

	e.bff = httptest.NewUnstartedServer(nil)
	e.public = &url.URL{Scheme: "http", Host: e.bff.Listener.Addr().String()}

	opMux := http.NewServeMux()
	e.opServe = httptest.NewServer(opMux)
	t.Cleanup(e.opServe.Close)
	e.opURL = e.opServe.URL + "/idp"

	keys, err := cookie.NewKeys(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	e.cfg = oidc.Config{
		Issuer:        e.opURL,
		ClientID:      "bff-test",
		ClientSecret:  "test-secret-" + strings.Repeat("s", 20),
		PublicURL:     e.public,
		Scopes:        []string{"openid", "profile", "email", "offline_access"},
		SessionMaxAge: 12 * time.Hour,
		SessionIdle:   time.Hour,
		Keys:          keys,
		HTTPClient:    &http.Client{Timeout: 5 * time.Second},
		Logger:        slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:           e.clock.Now,
	}
	opCfg := idp.Config{
		Issuer:                 e.opURL,
		ClientID:               e.cfg.ClientID,
		ClientSecret:           e.cfg.ClientSecret,
		RedirectURIs:           []string{e.public.String() + "/auth/callback"},
		PostLogoutRedirectURIs: []string{e.public.String() + "/"},
		Logger:                 slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&e.cfg, &opCfg)
	}
	e.op, err = idp.New(opCfg)
	if err != nil {
		t.Fatal(err)
	}
	opMux.Handle("/idp/", http.StripPrefix("/idp", e.op))

	e.auth, err = oidc.New(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.auth.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/auth/", e.auth)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		tok, err := e.auth.AccessToken(w, r)
		if err != nil {
			oidc.WriteError(w, err)
			return
		}
		io.WriteString(w, "token-ok:"+strings.Repeat("*", len(tok)%7))
	})
	e.bff.Config.Handler = mux
	e.bff.Start()
	t.Cleanup(e.bff.Close)
	e.client, e.jar = newBrowser(t)
	return e
}

func newBrowser(t *testing.T) (*http.Client, http.CookieJar) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, jar
}

// get requests path on bff with optional headers as name, value pairs.
func (e *env) get(path string, headers ...string) *http.Response {
	e.t.Helper()
	return e.do(e.client, path, headers...)
}

func (e *env) do(c *http.Client, path string, headers ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.bff.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startLogin asks bff to start a login and returns its redirect to the OP.
func (e *env) startLogin(returnTo string) *http.Response {
	e.t.Helper()
	resp := e.get("/auth/login?returnTo=" + url.QueryEscape(returnTo))
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("login: status %d: %s", resp.StatusCode, body(e.t, resp))
	}
	return resp
}

// authorize completes the OP's login form and returns bff's callback URL.
func (e *env) authorize(loginResp *http.Response) string {
	e.t.Helper()
	cb, err := idp.Login(context.Background(), e.client, loginResp.Header.Get("Location"), "demo", "demo")
	if err != nil {
		e.t.Fatal(err)
	}
	return cb
}

// callback requests the callback URL the OP redirected to.
func (e *env) callback(cbURL string) *http.Response {
	e.t.Helper()
	u, err := url.Parse(cbURL)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.get(u.RequestURI())
}

// login runs the whole flow and returns the callback's response.
func (e *env) login() *http.Response {
	e.t.Helper()
	resp := e.callback(e.authorize(e.startLogin("/app?x=1")))
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("callback: status %d: %s", resp.StatusCode, body(e.t, resp))
	}
	return resp
}

// sessionCookies returns the cookies the jar would send to bff.
func (e *env) sessionCookies() []*http.Cookie {
	return e.jar.Cookies(e.public)
}

type (
	oidcConfig = oidc.Config
	idpConfig  = idp.Config
)

// withKeys is a second bff replica on the same OP with other cookie keys.
func (e *env) withKeys(keys *cookie.Keys) *env {
	e.t.Helper()
	cfg := e.cfg
	cfg.Keys = keys
	a, err := oidc.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Discover(ctx); err != nil {
		e.t.Fatal(err)
	}
	r := *e
	r.auth = a
	r.bff = httptest.NewServer(http.StripPrefix("", a))
	e.t.Cleanup(r.bff.Close)
	// Same host, other port: cookies are per host, so the jar still works.
	r.public = &url.URL{Scheme: "http", Host: r.bff.Listener.Addr().String()}
	r.client, r.jar = newBrowser(e.t)
	return &r
}
