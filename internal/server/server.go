// Package server assembles bff from its packages: the auth endpoints
// (oidc), the API routes (proxy), the probes, the static single-page app,
// and the middleware around them all. It owns the wiring and the HTTP
// server's limits; every decision about sessions, tokens and forwarding
// belongs to the packages it wires.
package server

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"bff/internal/config"
	"bff/internal/endpoint"
	"bff/internal/redisstore"
	"bff/internal/static"
	"bff/internal/telemetry"
	"bff/internal/version"
	"bff/oidc"
	"bff/proxy"
)

// Options are what a caller embedding bff adds to its configuration. The
// zero value is the production server.
type Options struct {
	// Static, when set, is served at / instead of BFF_STATIC_DIR: the
	// demo's SPA, compiled into the binary.
	Static fs.FS
	// Mounts are handlers served beside bff's own, by http.ServeMux
	// pattern: the demo's OpenID provider.
	Mounts map[string]http.Handler
	// Now is the clock sessions and tokens are judged by; nil is time.Now.
	Now func() time.Time
	// Timeouts bound calls and clients; zero fields take the defaults.
	Timeouts Timeouts
}

// Timeouts bound how long bff waits. Zero fields take the defaults.
type Timeouts struct {
	IdP            time.Duration // each call to the IdP while a browser waits; default 10 s
	UpstreamHeader time.Duration // an upstream's response headers; default 30 s
	// Body bounds how long a client may take to send a request body before
	// bff has authenticated it; default 15 s. ReadHeaderTimeout covers
	// only the headers; without this, a client that announces a body and
	// never sends it holds a connection for as long as it likes. The
	// proxy lifts the deadline once a request is authenticated, for
	// uploads, streams and WebSockets.
	Body       time.Duration
	ReadHeader time.Duration // a request's headers; default 10 s, which cuts slowloris clients
	Shutdown   time.Duration // draining in-flight requests on shutdown; default 15 s
}

func (t Timeouts) withDefaults() Timeouts {
	t.Body = cmp.Or(t.Body, 15*time.Second)
	t.ReadHeader = cmp.Or(t.ReadHeader, 10*time.Second)
	t.Shutdown = cmp.Or(t.Shutdown, 15*time.Second)
	return t
}

// maxHeaderBytes leaves room for a session split into the most chunks a
// browser will keep, and no more.
const maxHeaderBytes = 64 << 10

// Server is one bff replica.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	timeouts Timeouts
	handler  http.Handler
	auth     *oidc.Auth
	metrics  *telemetry.Metrics
	store    *redisstore.Store  // nil without BFF_REDIS_URL
	tracing  *telemetry.Tracing // nil: tracing off
	// clientAddr is the browser's address behind the trusted proxies, for
	// the rate limiter and the upstream's X-Forwarded-For.
	clientAddr func(*http.Request) netip.Addr
}

// New wires the packages into one handler. The server is not ready until
// the identity provider's discovery document has loaded, which [Server.Run]
// starts.
func New(cfg *config.Config, log *slog.Logger, o Options) (*Server, error) {
	s := &Server{cfg: cfg, log: log, timeouts: o.Timeouts.withDefaults(), metrics: telemetry.NewMetrics()}
	s.clientAddr = clientAddress(log, cfg.TrustedProxies)
	var shared oidc.Shared
	if cfg.RedisURL != "" {
		store, err := redisstore.New(cfg.RedisURL, 2*time.Second, log)
		if err != nil {
			return nil, fmt.Errorf("BFF_REDIS_URL: %w", err)
		}
		s.store, shared = store, store
	}
	var err error
	if s.tracing, err = newTracing(cfg.Tracing); err != nil {
		return nil, err
	}
	s.auth, err = oidc.New(oidc.Config{
		Issuer:        cfg.Issuer,
		Discovery:     cfg.Discovery,
		ClientID:      cfg.ClientID,
		ClientSecret:  cfg.ClientSecret,
		PublicURL:     cfg.PublicURL,
		Scopes:        cfg.Scopes,
		AuthParams:    cfg.AuthParams,
		PostLogoutURL: cfg.PostLogoutURL,
		ErrorURL:      cfg.ErrorURL,
		SessionMaxAge: cfg.SessionMaxAge,
		SessionIdle:   cfg.SessionIdle,
		ExposeToken:   cfg.ExposeToken,
		Keys:          cfg.CookieKeys,
		HTTPClient:    s.traceIdP(idpClient()),
		Logger:        log,
		Now:           o.Now,
		Observer:      observer{s.metrics, s.tracing},
		IdPTimeout:    o.Timeouts.IdP,

		MaxCookieChunks: cfg.MaxCookieChunks,
		Shared:          shared,
		SessionStore:    cfg.SessionStore,
	})
	if err != nil {
		return nil, err
	}
	var routes *proxy.Proxy
	if len(cfg.Routes) > 0 {
		routes, err = proxy.New(proxy.Config{
			Routes:       cfg.Routes,
			Tokens:       s.auth,
			TokenError:   oidc.WriteError,
			OwnsCookie:   s.auth.OwnsCookie,
			PublicOrigin: cfg.PublicURL.String(),
			ClientAddr:   s.clientAddr,
			Transport:    s.tracing.Transport("upstream", proxy.RouteOf, s.metrics.Transport(upstreamTransport(o.Timeouts.UpstreamHeader), proxy.RouteOf)),
			Logger:       log,
		})
		if err != nil {
			return nil, err
		}
	}
	s.handler = s.routes(routes, o)
	return s, nil
}

// idpClient is the client for every call to the IdP.
func idpClient() *http.Client {
	return &http.Client{
		Timeout:   15 * time.Second,
		Transport: idpTransport(),
		// An IdP's token endpoint never redirects; following one would send
		// the client secret somewhere unexpected.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// ServeHTTP serves the public listener.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Ready reports whether the identity provider's discovery document has
// loaded and, when there is one, the shared store answers.
func (s *Server) Ready() bool {
	return s.auth.Ready() && (s.store == nil || s.store.Ready())
}

// Run serves ln until ctx ends, then drains in-flight requests. It loads
// the discovery document in the background, retrying until it succeeds,
// and serves metrics on BFF_METRICS_LISTEN when that is set. ln is closed
// when Run returns.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	var metricsLn net.Listener
	if s.cfg.MetricsListen != "" {
		var err error
		if metricsLn, err = net.Listen("tcp", s.cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("BFF_METRICS_LISTEN: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.timeouts.ReadHeader,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	background, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	go func() { _ = s.auth.Discover(background) }()
	if s.store != nil {
		go s.store.Run(background)
	}

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var metricsSrv *http.Server
	if metricsLn != nil {
		mux := http.NewServeMux() // the metrics listener's whole surface
		mux.Handle("GET /metrics", s.metrics.Handler())
		metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- metricsSrv.Serve(metricsLn) }()
		defer metricsSrv.Close()
		s.log.Info("metrics listening", "addr", metricsLn.Addr().String())
	}
	s.log.Info("bff listening", "addr", ln.Addr().String(), "public_url", s.cfg.PublicURL.String(), "version", version.String())

	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeouts.Shutdown)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.shutdownTracing(shutdownCtx)
	return nil
}

// routes is the public listener's route table.
func (s *Server) routes(routes *proxy.Proxy, o Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(endpoint.Auth, s.auth)
	if s.cfg.AuthRatePerMinute > 0 {
		limited := s.rateLimit(s.auth)
		for _, p := range endpoint.RateLimited() {
			mux.Handle(p, limited)
		}
	}
	mux.HandleFunc("GET "+endpoint.Health, func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET "+endpoint.Ready, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !s.auth.Ready():
			writeStatus(w, http.StatusServiceUnavailable, "identity provider not discovered yet")
		case s.store != nil && !s.store.Ready():
			writeStatus(w, http.StatusServiceUnavailable, "redis unreachable")
		default:
			writeStatus(w, http.StatusOK, "ready")
		}
	})
	for pattern, h := range o.Mounts {
		mux.Handle(pattern, h)
	}
	// Everything else is a page of the SPA; pages under the protected
	// paths need a session. bff's own paths and the routes match first,
	// and keep their own rules.
	mux.Handle("/", s.protect(s.static(o)))
	routeOf := func(string) string { return "" }
	var table http.Handler = mux
	if routes != nil {
		routeOf = routes.Prefix
		table = toRoutes(routes, mux)
	}
	name := routeName(routeOf)
	h := s.tracing.Middleware(name, s.middleware(table))
	return telemetry.AccessLog(s.log, s.metrics, name, h)
}

// toRoutes sends every request whose path is under a route prefix to the
// proxy, and the rest to mux. The proxy must see such a path exactly as
// the client wrote it: http.ServeMux would clean "/api/../admin" and
// redirect to "/admin", where the proxy refuses the path with 400.
func toRoutes(routes *proxy.Proxy, mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if routes.Prefix(r.URL.Path) != "" {
			routes.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (s *Server) static(o Options) http.Handler {
	opts := static.Options{Fallback: s.cfg.SPAFallback, CSP: s.cfg.CSP}
	switch {
	case o.Static != nil:
		return static.Handler(o.Static, opts)
	case s.cfg.StaticDir != "":
		return static.Handler(os.DirFS(s.cfg.StaticDir), opts)
	default:
		return http.HandlerFunc(notFound)
	}
}

// routeName names a request for metrics and the access log from a small,
// fixed set, never the raw path: bff's own endpoints, and the route
// prefix the proxy's own matching finds.
func routeName(routeOf func(path string) string) func(*http.Request) string {
	return func(r *http.Request) string {
		p := r.URL.Path
		if name := endpoint.Name(p); name != "" {
			return name
		}
		if prefix := routeOf(p); prefix != "" {
			return prefix
		}
		return "/*"
	}
}

// observer passes oidc's events to the metrics, a session's subject to
// the request's access-log line, and its spans to the tracer.
type observer struct {
	*telemetry.Metrics
	tracing *telemetry.Tracing
}

func (observer) Subject(r *http.Request, subject string) { telemetry.NoteSubject(r, subject) }

func (o observer) Span(ctx context.Context, name string) (context.Context, func(string)) {
	return o.tracing.Span(ctx, name)
}
