package oidc_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"bff/cookie"
	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
	"bff/oidc"
)

// env is one OP and one bff /auth/ handler on loopback, with a browser-like
// client that keeps cookies and does not follow redirects.
type env struct {
	t      *testing.T
	op     *bfftest.OP
	auth   *oidc.Auth
	bff    *httptest.Server
	public *url.URL
	client *http.Client
	jar    http.CookieJar
	clock  *bfftest.Clock
	logs   *kit.Buffer
	cfg    oidc.Config
}

// newEnv starts the OP and bff; each option may change bff's oidc.Config.
func newEnv(t *testing.T, opts ...func(*oidc.Config)) *env {
	t.Helper()
	return newEnvOP(t, bfftest.OPOptions{}, opts...)
}

// newEnvOP is newEnv with an OP shaped by o.
func newEnvOP(t *testing.T, o bfftest.OPOptions, opts ...func(*oidc.Config)) *env {
	t.Helper()
	e := &env{t: t, clock: &bfftest.Clock{}, logs: &kit.Buffer{}}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	e.bff = httptest.NewUnstartedServer(nil)
	e.public = &url.URL{Scheme: "http", Host: e.bff.Listener.Addr().String()}
	o.Logger = log
	e.op = bfftest.StartOP(t, e.public, o)
	e.cfg = bfftest.AuthConfig(t, e.op, e.public, bfftest.NewKey(t), e.clock, log)
	for _, o := range opts {
		o(&e.cfg)
	}
	e.auth = discovered(t, e.cfg)
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
	e.client, e.jar = bfftest.NewClient(t)
	return e
}

// discovered is an Auth for cfg that has loaded the OP's discovery
// document.
func discovered(t testing.TB, cfg oidc.Config) *oidc.Auth {
	t.Helper()
	a, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	return a
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
	return e.op.Login(e.t, e.client, loginResp.Header.Get("Location")).String()
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

// withKeys is a second bff replica on the same OP with other cookie keys.
func (e *env) withKeys(keys *cookie.Keys) *env {
	e.t.Helper()
	cfg := e.cfg
	cfg.Keys = keys
	a := discovered(e.t, cfg)
	r := *e
	r.auth = a
	r.bff = httptest.NewServer(http.StripPrefix("", a))
	e.t.Cleanup(r.bff.Close)
	// Same host, other port: cookies are per host, so the jar still works.
	r.public = &url.URL{Scheme: "http", Host: r.bff.Listener.Addr().String()}
	r.client, r.jar = bfftest.NewClient(e.t)
	return &r
}
