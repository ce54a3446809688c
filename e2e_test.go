package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bff/cookie"
	"bff/demo/idp"
	"bff/internal/testutil"
	"bff/proxy"
)

// Shared test helpers, under the names this package's tests use.
type syncBuffer = testutil.SyncBuffer
type testClock = testutil.Clock

// stack is a whole deployment on loopback: an OP on its own origin, an
// upstream API that echoes what it received, and one or more bff replicas
// with the same keys behind a round-robin front, which is the origin the
// browser sees.
type stack struct {
	t        *testing.T
	op       *idp.Provider
	opDown   atomic.Bool // the OP answers 503 to everything
	opURL    string
	upstream *httptest.Server
	front    *httptest.Server
	public   *url.URL
	replicas []*app
	clock    *testClock
	logs     *syncBuffer
	client   *http.Client
	jar      http.CookieJar
	seen     chan upstreamSaw
	secrets  []string // client secret and cookie key encodings: never to leave the process
}

type upstreamSaw struct {
	Authorization string `json:"authorization"`
	Cookie        string `json:"cookie"`
	Path          string `json:"path"`
	Query         string `json:"query"`
	XFF           string `json:"xff"`
	XFHost        string `json:"xfhost"`
	CSRF          string `json:"csrf"`
}

type stackOptions struct {
	replicas    int
	accessTTL   time.Duration
	reuse       time.Duration
	exposeToken bool
	authRate    int // logins per minute per client address; 0: no limit
	// upstream replaces the echo upstream behind /api/ when set.
	upstream http.Handler
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	if o.replicas == 0 {
		o.replicas = 1
	}
	s := &stack{t: t, clock: &testClock{}, logs: &syncBuffer{}, seen: make(chan upstreamSaw, 1024)}
	log := slog.New(slog.NewJSONHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw := upstreamSaw{
			Authorization: r.Header.Get("Authorization"), Cookie: r.Header.Get("Cookie"),
			Path: r.URL.Path, Query: r.URL.RawQuery, XFF: r.Header.Get("X-Forwarded-For"),
			XFHost: r.Header.Get("X-Forwarded-Host"), CSRF: r.Header.Get("X-CSRF"),
		}
		select {
		case s.seen <- saw:
		default:
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"path": saw.Path, "ok": "yes"})
	})
	if o.upstream != nil {
		s.upstream = httptest.NewServer(o.upstream)
	} else {
		s.upstream = httptest.NewServer(echo)
	}
	t.Cleanup(s.upstream.Close)

	s.front = httptest.NewUnstartedServer(nil)
	s.public = &url.URL{Scheme: "http", Host: s.front.Listener.Addr().String()}

	opMux := http.NewServeMux()
	opServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opDown.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		opMux.ServeHTTP(w, r)
	}))
	t.Cleanup(opServer.Close)
	s.opURL = opServer.URL + "/idp"
	secret := rand.Text()
	var err error
	s.op, err = idp.New(idp.Config{
		Issuer: s.opURL, ClientID: "bff", ClientSecret: secret,
		RedirectURIs:           []string{s.public.String() + "/auth/callback"},
		PostLogoutRedirectURIs: []string{s.public.String() + "/"},
		AccessTokenLifetime:    o.accessTTL,
		RefreshReuseInterval:   o.reuse,
		Logger:                 log.With("component", "op"),
	})
	if err != nil {
		t.Fatal(err)
	}
	opMux.Handle("/idp/", http.StripPrefix("/idp", s.op))

	key := make([]byte, 32)
	rand.Read(key)
	s.secrets = []string{secret, base64.RawURLEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(key)}
	keys, err := cookie.NewKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	upstreamURL, _ := url.Parse(s.upstream.URL + "/v1")
	cfg := &Config{
		Issuer: s.opURL, ClientID: "bff", ClientSecret: secret, PublicURL: s.public, CookieKeys: keys,
		Routes:        []proxy.Route{{Prefix: "/api/", Upstream: upstreamURL}},
		Scopes:        []string{"openid", "profile", "email", "offline_access"},
		SessionMaxAge: 12 * time.Hour, SessionIdle: time.Hour, ExposeToken: o.exposeToken,
		AuthRatePerMinute: o.authRate,
	}
	var backends []*url.URL
	for i := range o.replicas {
		a, err := newApp(cfg, log.With("replica", i), extras{now: s.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.auth.Discover(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		srv := httptest.NewServer(a.handler)
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		backends = append(backends, u)
		s.replicas = append(s.replicas, a)
	}
	var next atomic.Uint64
	s.front.Config.Handler = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backends[next.Add(1)%uint64(len(backends))])
			pr.Out.Host = pr.In.Host // the replicas see the public host, as behind a real load balancer
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
	}
	s.front.Start()
	t.Cleanup(s.front.Close)
	s.client, s.jar = newTestBrowser(t)
	return s
}

func newTestBrowser(t *testing.T) (*http.Client, http.CookieJar) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{MaxIdleConnsPerHost: 256},
	}, jar
}

// response is a finished exchange, body read, for assertions and leak scans.
type response struct {
	*http.Response
	body string
}

func (s *stack) get(path string, headers ...string) response {
	s.t.Helper()
	return s.doWith(s.client, path, headers...)
}

func (s *stack) doWith(c *http.Client, target string, headers ...string) response {
	s.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = s.front.URL + target
	}
	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return response{resp, string(b)}
}

// login signs the browser in through the OP's form; it returns every
// response bff and the OP sent on the way.
func (s *stack) login() []response {
	s.t.Helper()
	start := s.get("/auth/login?returnTo=/home")
	if start.StatusCode != http.StatusFound {
		s.t.Fatalf("login: %d %s", start.StatusCode, start.body)
	}
	cb, err := idp.Login(context.Background(), s.client, start.Header.Get("Location"), "demo", "demo")
	if err != nil {
		s.t.Fatal(err)
	}
	u, _ := url.Parse(cb)
	done := s.get(u.RequestURI())
	if done.StatusCode != http.StatusFound || done.Header.Get("Location") != "/home" {
		s.t.Fatalf("callback: %d %q %s", done.StatusCode, done.Header.Get("Location"), done.body)
	}
	return []response{start, done}
}

func (s *stack) api(path string) response {
	s.t.Helper()
	return s.get(path, "X-CSRF", "1")
}

func (s *stack) lastSeen() upstreamSaw {
	s.t.Helper()
	select {
	case saw := <-s.seen:
		return saw
	case <-time.After(5 * time.Second):
		s.t.Fatal("upstream saw nothing")
		return upstreamSaw{}
	}
}

func (s *stack) drainSeen() {
	for {
		select {
		case <-s.seen:
		default:
			return
		}
	}
}

func setCookieNames(r response) []string {
	var names []string
	for _, c := range r.Cookies() {
		names = append(names, c.Name)
	}
	return names
}
