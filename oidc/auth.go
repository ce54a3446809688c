// Package oidc signs browsers in with OpenID Connect (authorization code +
// PKCE, as a confidential client) and keeps the resulting token set in a
// sealed, chunked session cookie instead of a server-side store.
//
// An [Auth] serves the /auth/ endpoints and hands the proxy a fresh access
// token for each API call, refreshing it when it nears expiry.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"bff/cookie"
	"bff/internal/endpoint"
	"bff/internal/problem"
)

// Cookie names. The __Host- prefix makes browsers refuse them unless they
// are Secure, host-only and Path=/, so no sibling subdomain can plant one.
const (
	SessionCookie     = "__Host-bff-session"
	loginCookiePrefix = "__Host-bff-login-"
)

// Sealing purposes: a login-state cookie can never be replayed as a session.
const (
	purposeSession = "session"
	purposeLogin   = "login"
)

// Config is what an Auth needs; every field is required unless noted.
type Config struct {
	Issuer string
	// Discovery, when set, is the IdP's discovery document: the Auth is
	// ready from New, and Discover has nothing to fetch. Optional.
	Discovery    *Discovery
	ClientID     string
	ClientSecret string
	PublicURL    *url.URL // the BFF's external origin; the redirect URI hangs off it
	Scopes       []string
	// AuthParams are extra authorization-request parameters some IdPs
	// need, e.g. audience (Auth0) or access_type=offline (Google). Optional;
	// see ReservedAuthParams.
	AuthParams url.Values
	// PostLogoutURL is where the browser lands after logout: a local path or
	// an absolute URL.
	PostLogoutURL string
	// ErrorURL, when set, is where a failed sign-in sends the browser, with
	// error=<code> added to its query; otherwise bff shows its own page.
	ErrorURL      string
	SessionMaxAge time.Duration
	SessionIdle   time.Duration
	ExposeToken   bool // serve GET /auth/token

	Keys       *cookie.Keys
	HTTPClient *http.Client // for every call to the OpenID provider; must have a timeout
	Logger     *slog.Logger
	Now        func() time.Time // optional; time.Now
	Observer   Observer         // optional; metrics and access logs
	// IdPTimeout bounds each call to the IdP made while a browser waits:
	// the code exchange with userinfo, a refresh, a revocation. 0 means 10 s.
	IdPTimeout time.Duration
	// MaxConcurrentRefreshes bounds refresh calls in flight to the IdP from
	// this replica; 0 means 64.
	MaxConcurrentRefreshes int

	// MaxCookieChunks bounds the session cookie's chunks; 0 means the
	// cookie package's default. A larger session needs Shared.
	MaxCookieChunks int
	// Shared, when set, is the store every replica reaches (Redis): sessions
	// end everywhere at logout, the IdP can end them (back-channel logout),
	// a refresh happens once across replicas, and sessions too large for
	// the cookie are kept there. Nil keeps bff stateless.
	Shared Shared
	// SessionStore "redis" keeps every session in Shared, the cookie
	// holding only a handle; otherwise only those too large for the cookie.
	SessionStore string
}

// Auth serves /auth/ and supplies access tokens to the proxy.
type Auth struct {
	cfg       Config
	log       *slog.Logger
	obs       Observer
	now       func() time.Time
	provider  atomic.Pointer[provider]
	session   cookie.Chunked
	opened    *openedCache
	mux       *http.ServeMux
	refresh   *refresher
	errorPage *errorPage
	shared    Shared
}

// provider is what discovery yields. It is swapped in whole, once, so a
// request sees either no provider or a complete one.
type provider struct {
	oauth2   oauth2.Config // its Endpoint.AuthStyle is the client authentication, for every call
	verifier *gooidc.IDTokenVerifier
	// logoutVerifier checks back-channel logout tokens, which need not
	// have an exp.
	logoutVerifier *gooidc.IDTokenVerifier
	userinfo       *gooidc.Provider // nil when the IdP has no userinfo endpoint
	revocation     string
	endSession     string
}

// New returns an Auth that is not ready until [Auth.Discover] succeeds.
func New(cfg Config) (*Auth, error) {
	var errs []error
	if cfg.Keys == nil {
		errs = append(errs, errors.New("oidc: Keys is required"))
	}
	if cfg.HTTPClient == nil {
		errs = append(errs, errors.New("oidc: HTTPClient is required"))
	}
	if cfg.PublicURL == nil {
		errs = append(errs, errors.New("oidc: PublicURL is required"))
	}
	if cfg.SessionMaxAge <= 0 || cfg.SessionIdle <= 0 {
		errs = append(errs, errors.New("oidc: session lifetimes must be positive"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := &Auth{
		cfg:     cfg,
		log:     cfg.Logger,
		now:     cfg.Now,
		session: cookie.Chunked{Name: SessionCookie, SameSite: http.SameSiteStrictMode, MaxChunks: cfg.MaxCookieChunks},
		shared:  cfg.Shared,
		opened:  newOpenedCache(sessionsCachedPerGeneration),

		errorPage: newErrorPage(),
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.cfg.IdPTimeout <= 0 {
		a.cfg.IdPTimeout = 10 * time.Second
	}
	a.obs = cfg.Observer
	if a.obs == nil {
		a.obs = nopObserver{}
	}
	limit := cfg.MaxConcurrentRefreshes
	if limit <= 0 {
		limit = 64
	}
	// A refusal is remembered as long as a copy of the cookie could still be
	// used: the idle limit, counted from the last time it slid.
	a.refresh = newRefresher(limit, a.now, a.cfg.IdPTimeout, cfg.SessionIdle+refreshMargin+touchInterval)
	if cfg.Discovery != nil {
		p, err := a.discover(context.Background()) // no call to the IdP
		if err != nil {
			return nil, err
		}
		a.provider.Store(p)
		a.log.Info("identity provider configured from its discovery document", "issuer", cfg.Discovery.Issuer)
	}
	a.mux = http.NewServeMux()
	a.mux.HandleFunc("GET "+endpoint.Login, a.login)
	a.mux.HandleFunc("GET "+endpoint.Callback, a.callback)
	a.mux.HandleFunc("GET "+endpoint.Session, a.sessionInfo)
	a.mux.HandleFunc("GET "+endpoint.Logout, a.logout)
	if cfg.ExposeToken {
		a.mux.HandleFunc("GET "+endpoint.Token, a.token)
	}
	if cfg.Shared != nil {
		// Ending a session from the IdP needs every replica to hear of it.
		a.mux.HandleFunc("POST "+endpoint.BackchannelLogout, a.backchannelLogout)
	}
	a.mux.HandleFunc(endpoint.Auth, a.notFound)
	return a, nil
}

// ServeHTTP serves the /auth/ endpoints. Nothing under /auth/ may be cached:
// every answer is about one browser's session.
func (a *Auth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	a.mux.ServeHTTP(w, r)
}

// notFound answers what the endpoints above do not match, as problem+json
// like every other error: 405 for an endpoint asked with a method it does
// not take, 404 for the rest.
func (a *Auth) notFound(w http.ResponseWriter, r *http.Request) {
	probe := r.Clone(r.Context())
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != endpoint.Auth {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		problem.Write(w, http.StatusMethodNotAllowed, "Method not allowed", "Use "+strings.Join(allow, " or ")+".")
		return
	}
	problem.Write(w, http.StatusNotFound, "Not found", "")
}

// Ready reports whether the provider's discovery document has been loaded.
func (a *Auth) Ready() bool { return a.provider.Load() != nil }

// OwnsCookie reports whether a cookie of this name belongs to bff, so the
// proxy never forwards one upstream.
func (a *Auth) OwnsCookie(name string) bool {
	return a.session.Owns(name) || len(name) > len(loginCookiePrefix) && name[:len(loginCookiePrefix)] == loginCookiePrefix
}

// Discover loads the provider's discovery document, retrying with capped
// exponential backoff until it succeeds or ctx ends. An IdP that is down
// when bff starts makes it not ready, never crash. With Config.Discovery
// there is nothing to load.
func (a *Auth) Discover(ctx context.Context) error {
	if a.Ready() {
		return nil
	}
	delay := 250 * time.Millisecond
	for {
		p, err := a.discover(ctx)
		if err == nil {
			a.provider.Store(p)
			a.log.Info("identity provider discovered", "issuer", a.cfg.Issuer)
			return nil
		}
		a.log.Warn("identity provider discovery failed; retrying", "issuer", a.cfg.Issuer, "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay + rand.N(delay/2)):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

func (a *Auth) discover(ctx context.Context) (*provider, error) {
	p, extra, err := a.document(ctx)
	if err != nil {
		return nil, err
	}
	style, err := authStyle(extra.TokenAuthMethods, extra.RevokeAuthMethods)
	if err != nil {
		return nil, err
	}
	ep := p.Endpoint()
	ep.AuthStyle = style
	out := &provider{
		oauth2: oauth2.Config{
			ClientID:     a.cfg.ClientID,
			ClientSecret: a.cfg.ClientSecret,
			Endpoint:     ep,
			RedirectURL:  a.cfg.PublicURL.JoinPath(endpoint.Callback).String(),
			Scopes:       a.cfg.Scopes,
		},
		verifier:       p.Verifier(&gooidc.Config{ClientID: a.cfg.ClientID, Now: a.now}),
		logoutVerifier: a.newLogoutVerifier(extra),
		revocation:     extra.Revocation,
		endSession:     extra.EndSession,
	}
	if p.UserInfoEndpoint() != "" {
		out.userinfo = p
	}
	return out, nil
}

// authStyle chooses, once, how every call bff makes with its client
// credentials authenticates: the code exchange, refresh, revocation.
// Leaving it to x/oauth2 would let it guess, and on a failed first call
// try the other way, which redeems a refresh token twice (an IdP that
// rotates refresh tokens then revokes the family). IdPs such as Hydra hold
// a client to one method at every endpoint, so the revocation call must
// match too. client_secret_basic is preferred, as RFC 6749 asks; an IdP
// that lists no methods supports just that (OpenID Connect Discovery).
func authStyle(token, revocation []string) (oauth2.AuthStyle, error) {
	if len(token) == 0 {
		token = []string{"client_secret_basic"}
	}
	both := func(m string) bool {
		return slices.Contains(token, m) && (len(revocation) == 0 || slices.Contains(revocation, m))
	}
	switch {
	case both("client_secret_basic"):
		return oauth2.AuthStyleInHeader, nil
	case both("client_secret_post"):
		return oauth2.AuthStyleInParams, nil
	case slices.Contains(token, "client_secret_basic"):
		return oauth2.AuthStyleInHeader, nil
	case slices.Contains(token, "client_secret_post"):
		return oauth2.AuthStyleInParams, nil
	}
	return 0, fmt.Errorf("discovery document: the token endpoint takes neither client_secret_basic nor client_secret_post (it lists %q)", token)
}

// clientContext carries the injected HTTP client into go-oidc and x/oauth2,
// which take it from the context.
func (a *Auth) clientContext(ctx context.Context) context.Context {
	ctx = gooidc.ClientContext(ctx, a.cfg.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, a.cfg.HTTPClient)
}
