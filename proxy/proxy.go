package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"bff/internal/clientip"
	"bff/internal/policy"
	"bff/internal/problem"
)

// Tokens supplies the access token for a request. It may set cookies on w
// (a refreshed session), so it is called before anything is written.
type Tokens interface {
	AccessToken(w http.ResponseWriter, r *http.Request) (string, error)
}

// Config configures a [Proxy].
type Config struct {
	Routes []Route
	Tokens Tokens // required
	// TokenError writes the response when Tokens fails (401 or 503
	// problem+json; the caller knows which). Nil answers 401.
	TokenError func(w http.ResponseWriter, err error)
	// OwnsCookie reports whether a cookie is bff's own; such cookies are
	// never forwarded, and an upstream may not set them. Required: without
	// it the sealed session would travel to every upstream.
	OwnsCookie func(name string) bool
	// PublicOrigin is the BFF's origin ("https://app.example.com");
	// WebSocket upgrades must carry exactly this Origin.
	PublicOrigin string
	// ClientAddr is the browser's address, as X-Forwarded-For tells the
	// upstream: the TCP peer, or the client behind trusted load balancers.
	// Nil takes the TCP peer.
	ClientAddr func(*http.Request) netip.Addr
	Transport  http.RoundTripper // nil: NewTransport()
	Logger     *slog.Logger      // nil: discard
}

// Proxy is the handler for every route. Its zero value is not usable; call
// [New].
type Proxy struct {
	routes     []route // longest prefix first, so the first match wins
	tokens     Tokens
	tokenError func(http.ResponseWriter, error)
	ownsCookie func(string) bool
	origin     string // serialised as browsers send it in Origin
	publicHost string // X-Forwarded-Host
	publicProt string // X-Forwarded-Proto
	clientAddr func(*http.Request) netip.Addr
	log        *slog.Logger
	rp         *httputil.ReverseProxy
}

// route is a Route with the strings the hot path needs worked out once.
type route struct {
	prefix   string   // "/api/"
	bare     string   // "/api": the prefix without its slash
	upstream *url.URL // a copy, so the caller cannot change it under us
	base     string   // upstream path without trailing slashes: "/v1"
	rawBase  string   // the same, escaped
	upPath   string   // upstream path for the bare prefix: "/v1", or "/"
}

// New returns the handler for every route. Requests that match no route
// get 404 problem+json.
func New(cfg Config) (*Proxy, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("proxy: Tokens is required")
	}
	if cfg.OwnsCookie == nil {
		return nil, errors.New("proxy: OwnsCookie is required")
	}
	origin, err := policy.Origin(cfg.PublicOrigin)
	if err != nil {
		return nil, fmt.Errorf("proxy: PublicOrigin: %w", err)
	}
	scheme, host, _ := strings.Cut(origin, "://")
	p := &Proxy{
		tokens:     cfg.Tokens,
		tokenError: cfg.TokenError,
		ownsCookie: cfg.OwnsCookie,
		origin:     origin,
		publicHost: host,
		publicProt: scheme,
		clientAddr: cfg.ClientAddr,
		log:        cfg.Logger,
	}
	if p.clientAddr == nil {
		p.clientAddr = clientip.New(nil).IP // the TCP peer
	}
	if p.tokenError == nil {
		p.tokenError = func(w http.ResponseWriter, _ error) {
			problem.Write(w, http.StatusUnauthorized, "Not signed in", "")
		}
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	seen := make(map[string]bool)
	for i, r := range cfg.Routes {
		rt, err := newRoute(r)
		if err == nil && seen[rt.prefix] {
			err = errors.New("duplicate prefix")
		}
		if err != nil {
			return nil, fmt.Errorf("proxy: route %d %q: %w", i+1, r.Prefix, err)
		}
		seen[rt.prefix] = true
		p.routes = append(p.routes, rt)
	}
	slices.SortFunc(p.routes, func(a, b route) int { return cmp.Compare(len(b.prefix), len(a.prefix)) })

	transport := cfg.Transport
	if transport == nil {
		transport = NewTransport()
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      transport,
		ModifyResponse: p.filterResponse,
		ErrorHandler:   p.proxyError,
		ErrorLog:       slog.NewLogLogger(p.log.Handler(), slog.LevelWarn),
		BufferPool:     &bufferPool{},
		// FlushInterval stays 0: ReverseProxy already flushes every write
		// of an event stream or a body of unknown length, which is what
		// streams are, and buffers the rest, which is cheaper.
	}
	return p, nil
}

func newRoute(r Route) (route, error) {
	prefix, err := normalizePrefix(r.Prefix)
	if err != nil {
		return route{}, err
	}
	if err := checkUpstream(r.Upstream); err != nil {
		return route{}, err
	}
	u := *r.Upstream
	// url.URL.JoinPath on a bare origin yields the path "v1", which would
	// go out as "GET v1/x". Paths here are absolute.
	if u.Path != "" && !strings.HasPrefix(u.Path, "/") {
		u.Path, u.RawPath = "/"+u.Path, ""
	}
	rt := route{
		prefix:   prefix,
		bare:     prefix[:len(prefix)-1],
		upstream: &u,
		base:     strings.TrimRight(u.Path, "/"),
		rawBase:  strings.TrimRight(u.EscapedPath(), "/"),
		upPath:   cmp.Or(u.Path, "/"),
	}
	return rt, nil
}

// Prefix returns the prefix of the route path falls under ("/api/"), or ""
// when it falls under none. The longest matching prefix wins.
func (p *Proxy) Prefix(path string) string {
	if rt := p.match(path); rt != nil {
		return rt.prefix
	}
	return ""
}

func (p *Proxy) match(path string) *route {
	for i := range p.routes {
		rt := &p.routes[i]
		if strings.HasPrefix(path, rt.prefix) || path == rt.bare {
			return rt
		}
	}
	return nil
}

// forward is what ServeHTTP learned that rewrite needs. It travels in the
// request context because ReverseProxy offers no other way in.
type forward struct {
	route         *route
	rest, rawRest string // request path after the prefix, decoded and escaped
	token         string
	client        netip.Addr  // the browser, for X-Forwarded-For
	bff           http.Header // what bff set on the response before proxying
}

type forwardKey struct{}

// ServeHTTP checks the request (see the package documentation for the
// order and why) and forwards it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt := p.match(r.URL.Path)
	if rt == nil {
		problem.Write(w, http.StatusNotFound, "Not found", "No API route matches this path.")
		return
	}
	rest, rawRest, ok := rt.split(r.URL)
	if !ok || !cleanPath(r.URL.Path) {
		problem.Write(w, http.StatusBadRequest, "Bad request path", "The path must not contain empty, '.' or '..' segments, encoded separators within the route prefix, or control characters.")
		return
	}
	if !forwardedMethod(r.Method) {
		// TRACE (in any spelling an upstream might accept) would echo the
		// attached token back to the page; other methods are nothing an
		// SPA's API calls need.
		w.Header().Set("Allow", allowedMethods)
		problem.Write(w, http.StatusMethodNotAllowed, "Method not allowed", "The proxy forwards "+allowedMethods+".")
		return
	}
	switch up := upgrade(r.Header); {
	case up == "":
		if !policy.CheckCSRF(w, r) {
			return
		}
	case len(up) == len("websocket") && strings.EqualFold(up, "websocket"): // ASCII only, as ReverseProxy requires
		if !webSockets {
			problem.Write(w, http.StatusNotImplemented, "WebSockets unavailable", "This build of bff does not forward WebSockets.")
			return
		}
		if o := r.Header["Origin"]; len(o) != 1 || o[0] != p.origin {
			problem.Write(w, http.StatusForbidden, "Cross-origin WebSocket refused", "A WebSocket must be opened from this site.")
			return
		}
	default:
		problem.Write(w, http.StatusBadRequest, "Unsupported upgrade", "Only WebSocket upgrades are forwarded.")
		return
	}
	token, err := p.tokens.AccessToken(w, r)
	if err == nil && token == "" {
		err = errors.New("proxy: empty access token")
	}
	if err != nil {
		p.tokenError(w, err)
		return
	}
	// The server may bound how long an unauthenticated client takes to
	// send its body; an authenticated one may upload, stream or hold a
	// WebSocket as long as the upstream wants.
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
	f := &forward{route: rt, rest: rest, rawRest: rawRest, token: token, client: p.clientAddr(r), bff: w.Header()}
	ctx := context.WithValue(r.Context(), forwardKey{}, f)
	p.rp.ServeHTTP(&responseWriter{ResponseWriter: w, ownsCookie: p.ownsCookie}, r.WithContext(ctx))
}

// allowedMethods are the only methods forwarded, exactly as spelled here.
const allowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

func forwardedMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// upgrade returns the protocol a request asks to switch to, or "". Like
// ReverseProxy, it needs both Connection: upgrade and Upgrade.
func upgrade(h http.Header) string {
	for _, v := range h["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return h.Get("Upgrade")
			}
		}
	}
	return ""
}
