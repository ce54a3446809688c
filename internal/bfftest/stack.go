package bfftest

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bff/internal/bfftest/kit"
	"bff/internal/endpoint"
	"bff/internal/server"
	"bff/oidc"
)

// Stack is a whole deployment on loopback: an OP on its own origin, an
// upstream API that records what it receives, and one or more bff
// replicas, each running the production server on its own port with the
// same configuration, behind a round-robin front whose origin is the
// public URL the browser sees.
type Stack struct {
	T  testing.TB
	OP *OP // the demo OP; nil when StackOptions.IdP chose another
	// IdP is the OpenID provider bff uses: the OP's, or the one
	// StackOptions.IdP gave.
	IdP      IdP
	Upstream *Upstream // behind /api/, which bff maps to its /v1
	Front    *httptest.Server
	Public   *url.URL
	Replicas []Replica
	Env      map[string]string // the replicas' environment
	Key      Key
	Clock    *Clock
	Logs     *kit.Buffer // bff's and the OP's log lines, JSON, at debug level
	Client   *http.Client
	Jar      http.CookieJar
	Requests *FrontLog // every request the front passed on
}

// Replica is one running bff.
type Replica struct {
	*server.Server
	Addr string // its own listener, which the front forwards to
}

// StackOptions shape a Stack. The zero value is one replica with bff's
// defaults, except that logins are not rate limited.
type StackOptions struct {
	Replicas int       // 0 is 1
	OP       OPOptions // the Logger is the stack's
	// IdP, when set, is used instead of starting the demo OP (OP is
	// ignored): a real provider, called with the public URL, at which it
	// registers bff as a client.
	IdP func(t testing.TB, public *url.URL) IdP
	// Upstream serves /api/ (the recording still happens); nil answers
	// every request with 200 and the path it saw.
	Upstream http.Handler
	// Routes are further routes: a prefix and the handler of its upstream.
	Routes map[string]http.Handler
	// Dead are further route prefixes whose upstream refuses connections.
	Dead []string
	// Env is added to the replicas' environment; "" unsets a variable.
	Env map[string]string
	// Server are the replicas' options; Now defaults to the stack's clock.
	Server server.Options
	// Unready starts the replicas without waiting for /readyz: for a
	// dependency that is down at start.
	Unready bool
}

// FastTimeout is what [FastTimeouts] shortens every timeout to.
const FastTimeout = 2 * time.Second

// FastTimeouts shorten bff's timeouts so that a test sees them fire.
func FastTimeouts() server.Timeouts {
	return server.Timeouts{IdP: FastTimeout, UpstreamHeader: FastTimeout, Body: FastTimeout, ReadHeader: FastTimeout}
}

// NewStack starts a Stack and waits until every replica is ready. It
// stops when the test ends.
func NewStack(t testing.TB, o StackOptions) *Stack {
	t.Helper()
	s := &Stack{T: t, Clock: &Clock{}, Logs: &kit.Buffer{}, Requests: &FrontLog{}, Key: NewKey(t)}
	log := slog.New(slog.NewJSONHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			logs := s.Logs.String()
			t.Logf("stack logs (last 16 KiB):\n%s", logs[max(0, len(logs)-16<<10):])
		}
	})

	// The front's address comes first: it is the public URL, which the
	// OP registers as the client's redirect URI.
	s.Front = httptest.NewUnstartedServer(nil)
	s.Public = &url.URL{Scheme: "http", Host: s.Front.Listener.Addr().String()}
	if o.IdP != nil {
		s.IdP = o.IdP(t, s.Public)
	} else {
		opts := o.OP
		opts.Logger = log.With("component", "op")
		s.OP = StartOP(t, s.Public, opts)
		s.IdP = s.OP.IdP()
	}
	s.Upstream = NewUpstream(t, o.Upstream)

	routes := []string{"/api/=" + s.Upstream.URL + "/v1"}
	for _, prefix := range slices.Sorted(maps.Keys(o.Routes)) {
		up := httptest.NewServer(o.Routes[prefix])
		t.Cleanup(up.Close)
		routes = append(routes, prefix+"="+up.URL)
	}
	for _, prefix := range o.Dead {
		routes = append(routes, prefix+"=http://"+kit.ClosedPort(t))
	}
	s.Env = s.IdP.Env(s.Public, s.Key)
	s.Env["BFF_ROUTES"] = strings.Join(routes, ",")
	s.Env["BFF_AUTH_RATE_LIMIT"] = "0"
	for k, v := range o.Env {
		if v == "" {
			delete(s.Env, k)
		} else {
			s.Env[k] = v
		}
	}
	cfg := Load(t, s.Env)
	serverOpts := o.Server
	if serverOpts.Now == nil {
		serverOpts.Now = s.Clock.Now
	}
	var backends []*url.URL
	for i := range max(o.Replicas, 1) {
		srv, err := server.New(cfg, log.With("replica", i), serverOpts)
		if err != nil {
			t.Fatal(err)
		}
		addr := Serve(t, srv)
		s.Replicas = append(s.Replicas, Replica{Server: srv, Addr: addr})
		backends = append(backends, &url.URL{Scheme: "http", Host: addr})
	}
	for _, r := range s.Replicas {
		if o.Unready {
			break
		}
		if err := WaitReady(r.Addr, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	s.Front.Config.Handler = s.Requests.front(backends)
	s.Front.Start()
	t.Cleanup(s.Front.Close)
	s.Client, s.Jar = NewClient(t)
	return s
}

// Get requests path (or a URL) with the stack's client.
func (s *Stack) Get(path string, headers ...string) Response {
	s.T.Helper()
	return Get(s.T, s.Client, s.Front.URL, path, headers...)
}

// API requests path as the SPA's JavaScript does, with X-CSRF.
func (s *Stack) API(path string) Response {
	s.T.Helper()
	return s.Get(path, "X-CSRF", "1")
}

// Login signs the stack's client in at the IdP and returns
// bff's two answers on the way: the login redirect and the callback's.
func (s *Stack) Login() []Response {
	s.T.Helper()
	start := s.Get(endpoint.Login + "?returnTo=/home")
	if start.StatusCode != http.StatusFound {
		s.T.Fatalf("login: %d %s", start.StatusCode, start.Text)
	}
	cb := s.IdP.Login(s.T, s.Client, start.Header.Get("Location"))
	done := s.Get(cb.RequestURI())
	if done.StatusCode != http.StatusFound || done.Header.Get("Location") != "/home" {
		s.T.Fatalf("callback: %d %q %s", done.StatusCode, done.Header.Get("Location"), done.Text)
	}
	return []Response{start, done}
}

// Addr is the first replica's own address, for requests that must reach
// bff exactly as written, past the front.
func (s *Stack) Addr() string { return s.Replicas[0].Addr }

// Secrets are the strings that must never leave the process: the client
// secret and every encoding of the cookie key.
func (s *Stack) Secrets() []string {
	return append([]string{s.IdP.ClientSecret}, s.Key.Secrets...)
}

// SessionCookies are the client's session cookies, in chunk order.
func (s *Stack) SessionCookies() []*http.Cookie {
	cs := slices.DeleteFunc(s.Jar.Cookies(s.Public), func(c *http.Cookie) bool {
		return !strings.HasPrefix(c.Name, oidc.SessionCookie)
	})
	slices.SortFunc(cs, func(a, b *http.Cookie) int { return strings.Compare(a.Name, b.Name) })
	return cs
}

// FrontRequest is one request the front passed to a replica, as bff saw it.
type FrontRequest struct {
	Replica   int
	Method    string
	Path      string
	FetchSite string // Sec-Fetch-Site, the browser's own word on where a request came from
	Origin    string
	ACRH      string // Access-Control-Request-Headers of a preflight
	BFFCookie bool   // the request carried a __Host-bff cookie
	CSRF      bool   // the request carried X-CSRF: 1
	Status    int
	ACAO      string // Access-Control-Allow-Origin of the answer
}

// FrontLog is what the front passed on.
type FrontLog struct {
	mu   sync.Mutex
	reqs []FrontRequest
}

// All returns every request so far, in order.
func (l *FrontLog) All() []FrontRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

type replicaKey struct{}

// front passes each request to the next backend in turn, with the public
// Host as a real load balancer does, and logs it.
func (l *FrontLog) front(backends []*url.URL) http.Handler {
	transport := &http.Transport{MaxIdleConnsPerHost: 256}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backends[pr.In.Context().Value(replicaKey{}).(int)])
			pr.Out.Host = pr.In.Host
		},
		Transport: transport,
	}
	var next atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replica := int(next.Add(1) % uint64(len(backends)))
		rec := &statusRecorder{ResponseWriter: w}
		rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), replicaKey{}, replica)))
		l.mu.Lock()
		defer l.mu.Unlock()
		l.reqs = append(l.reqs, FrontRequest{
			Replica: replica, Method: r.Method, Path: r.URL.Path,
			FetchSite: r.Header.Get("Sec-Fetch-Site"), Origin: r.Header.Get("Origin"),
			ACRH: r.Header.Get("Access-Control-Request-Headers"),
			BFFCookie: slices.ContainsFunc(r.Cookies(), func(c *http.Cookie) bool {
				return strings.HasPrefix(c.Name, "__Host-bff")
			}),
			CSRF:   r.Header.Get("X-CSRF") == "1",
			Status: cmp.Or(rec.status, http.StatusOK), ACAO: rec.Header().Get("Access-Control-Allow-Origin"),
		})
	})
}

// statusRecorder remembers the status a handler wrote. Unwrap lets
// flushes and hijacks (streams, WebSockets) reach the real writer.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
