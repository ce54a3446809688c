package main

import (
	"cmp"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"bff/internal/clientip"
	"bff/internal/cors"
	"bff/internal/problem"
	"bff/internal/ratelimit"
	"bff/internal/telemetry"
	"bff/oidc"
	"bff/proxy"
)

// extras are what the demo adds to a normal server: an SPA compiled into
// the binary and handlers mounted beside bff's own (the demo's OP).
type extras struct {
	static fs.FS
	mounts map[string]http.Handler
	now    func() time.Time // tests move time; nil is time.Now

	// Tests shorten these to see a timeout without waiting for it.
	idpTimeout            time.Duration // 0: oidc's default, 10 s
	upstreamHeaderTimeout time.Duration // 0: proxy.NewTransport's, 30 s
	bodyTimeout           time.Duration // 0: bodyReadTimeout
	readHeaderTimeout     time.Duration // 0: 10 s
}

// bodyReadTimeout bounds how long a client may take to send a request body
// before bff has authenticated it. ReadHeaderTimeout covers only the
// headers; without this, a client that announces a body and never sends it
// holds a connection for as long as it likes. The proxy lifts the deadline
// once a request is authenticated, for uploads, streams and WebSockets.
const bodyReadTimeout = 15 * time.Second

type app struct {
	handler http.Handler
	auth    *oidc.Auth
	metrics *telemetry.Metrics
}

// newApp wires the packages into one handler.
func newApp(cfg *Config, log *slog.Logger, x extras) (*app, error) {
	idpTransport := http.DefaultTransport.(*http.Transport).Clone()
	// Enough idle connections for the refreshes one replica runs at once,
	// so a burst of them does not open (and TLS-handshake) a connection each.
	idpTransport.MaxIdleConnsPerHost = 64
	idpClient := &http.Client{
		Timeout:   15 * time.Second,
		Transport: idpTransport,
		// An IdP's token endpoint never redirects; following one would send
		// the client secret somewhere unexpected.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	metrics := telemetry.NewMetrics()
	auth, err := oidc.New(oidc.Config{
		Issuer:        cfg.Issuer,
		ClientID:      cfg.ClientID,
		ClientSecret:  cfg.ClientSecret,
		PublicURL:     cfg.PublicURL,
		Scopes:        cfg.Scopes,
		AuthParams:    cfg.AuthParams,
		PostLogoutURL: cfg.PostLogoutURL,
		SessionMaxAge: cfg.SessionMaxAge,
		SessionIdle:   cfg.SessionIdle,
		ExposeToken:   cfg.ExposeToken,
		Keys:          cfg.CookieKeys,
		HTTPClient:    idpClient,
		Logger:        log,
		Now:           x.now,
		Observer:      metrics,
		IdPTimeout:    x.idpTimeout,
	})
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.Handle("/auth/", auth)
	if cfg.AuthRatePerMinute > 0 {
		// Logins and callbacks cost a round trip to the IdP each: limit
		// them per client address. Everything else needs a session first.
		limiter := ratelimit.New(ratelimit.Config{
			Rate:  rate.Limit(float64(cfg.AuthRatePerMinute) / 60),
			Burst: max(cfg.AuthRatePerMinute/3, 5),
		})
		limited := limiter.Middleware(clientAddress(log, cfg.TrustedProxies), auth)
		mux.Handle("/auth/login", limited)
		mux.Handle("/auth/callback", limited)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !auth.Ready() {
			writeStatus(w, http.StatusServiceUnavailable, "identity provider not discovered yet")
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
	prefix := func(string) string { return "" }
	if len(cfg.Routes) > 0 {
		px, err := proxy.New(proxy.Config{
			Routes:       cfg.Routes,
			Tokens:       auth,
			TokenError:   oidc.WriteError,
			OwnsCookie:   auth.OwnsCookie,
			PublicOrigin: cfg.PublicURL.String(),
			Transport:    metrics.Transport(upstreamTransport(x.upstreamHeaderTimeout), proxy.RouteOf),
			Logger:       log,
		})
		if err != nil {
			return nil, err
		}
		for _, rt := range cfg.Routes {
			mux.Handle(rt.Prefix, px)
			mux.Handle(rt.Prefix[:len(rt.Prefix)-1], px)
		}
		prefix = px.Prefix
	}
	for pattern, h := range x.mounts {
		mux.Handle(pattern, h)
	}
	switch {
	case x.static != nil:
		mux.Handle("/", strictCSP(http.FileServerFS(x.static)))
	case cfg.StaticDir != "":
		mux.Handle("/", http.FileServerFS(os.DirFS(cfg.StaticDir)))
	default:
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			problem.Write(w, http.StatusNotFound, "Not found", "")
		})
	}
	h := securityHeaders(cfg.PublicURL.Scheme == "https", cors.Handler(cfg.CORSOrigins, onlyPaths(mux)))
	h = readDeadline(cmp.Or(x.bodyTimeout, bodyReadTimeout), h)
	h = telemetry.AccessLog(log, metrics, routeName(prefix), h)
	return &app{handler: h, auth: auth, metrics: metrics}, nil
}

// routeName names a request for metrics and the access log from a small,
// fixed set, never the raw path: one label per endpoint and per route
// prefix, as the proxy's own matching finds it.
func routeName(prefix func(path string) string) func(*http.Request) string {
	return func(r *http.Request) string {
		p := r.URL.Path
		switch p {
		case "/auth/login", "/auth/callback", "/auth/session", "/auth/logout", "/auth/token", "/healthz", "/readyz":
			return p
		}
		if strings.HasPrefix(p, "/auth/") {
			return "/auth/*"
		}
		if pre := prefix(p); pre != "" {
			return pre
		}
		return "/*"
	}
}

// clientAddress keys the login limit. Behind a load balancer that bff was
// not told to trust, every user has the balancer's address and shares one
// limit: say so once in the log, where an operator will see it.
func clientAddress(log *slog.Logger, trusted []netip.Prefix) func(*http.Request) netip.Addr {
	resolve := clientip.New(trusted).IP
	var warn sync.Once
	return func(r *http.Request) netip.Addr {
		if len(trusted) == 0 && r.Header.Get("X-Forwarded-For") != "" {
			warn.Do(func() {
				log.Warn("requests carry X-Forwarded-For but BFF_TRUSTED_PROXIES is empty: the login rate limit sees the proxy's address, shared by every user behind it")
			})
		}
		return resolve(r)
	}
}

func upstreamTransport(headerTimeout time.Duration) *http.Transport {
	t := proxy.NewTransport()
	if headerTimeout > 0 {
		t.ResponseHeaderTimeout = headerTimeout
	}
	return t
}

// readDeadline gives a request that has a body a deadline for sending it.
// A request without one gets none: net/http is then already reading the
// connection in the background, and a deadline firing there would cancel
// the context of every later request on that connection.
func readDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

// onlyPaths answers requests whose target is not a path (CONNECT host:port,
// or an asterisk) as problem+json, instead of the mux's plain-text 404.
func onlyPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/") || r.Method == http.MethodConnect {
			problem.Write(w, http.StatusMethodNotAllowed, "Method not allowed", "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": msg, "version": buildVersion()})
}

// securityHeaders sets what every response bff itself writes should carry.
// Proxied responses get them too; an upstream's own values win.
func securityHeaders(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if https {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// demoCSP allows the demo SPA nothing but its own origin.
const demoCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func strictCSP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", demoCSP)
		next.ServeHTTP(w, r)
	})
}
