// Package api is the demo's upstream API: the resource server that bff
// proxies /api/ to. It is deliberately suspicious. It has no session, no
// cookie and no idea that a browser exists; it trusts a request only when
// it carries a JWT access token that the OP signed for bff's client id and
// that has not expired. That is the contract bff has to meet, so the demo
// shows it being met, including across token refreshes.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"bff/internal/problem"
)

// Config describes the one OP the API trusts.
type Config struct {
	// Issuer is the OP's issuer URL. The signing keys are found through its
	// discovery document, so nothing else about the OP is configured.
	Issuer string
	// Audience is the "aud" every access token must contain: bff's client id.
	Audience string
	// HTTPClient fetches discovery and keys. Nil gets a private client with
	// a timeout, never http.DefaultClient, whose lack of one would let a
	// stalled OP hold requests open forever.
	HTTPClient *http.Client
	// Logger receives rejected tokens' reasons, never the tokens. Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock for expiry checks and the "expiresIn" the API
	// reports. Nil means time.Now.
	Now func() time.Time
}

// Stream shape of GET /events: small and quick, so a streaming test through
// the proxy sees several separately flushed chunks within about a second.
const (
	eventCount    = 5
	eventInterval = 200 * time.Millisecond
)

// defaultTimeout bounds each request to the OP when the caller brings no
// client of its own.
const defaultTimeout = 10 * time.Second

type api struct {
	issuer   string
	audience string
	client   *http.Client
	log      *slog.Logger
	now      func() time.Time
	// life is New's context. Discovery happens on requests long after New
	// returns, so the context is kept to let its end stop those attempts.
	life context.Context

	// discovering holds one token while a discovery runs, so a burst of
	// first requests makes one trip to the OP, and waiters can give up when
	// their own request does (a mutex could not be abandoned).
	discovering chan struct{}
	verifier    atomic.Pointer[oidc.IDTokenVerifier]

	calls atomic.Int64
}

// New returns the demo API: it trusts nothing but a valid JWT access token.
//
// Routes, as the API sees them (bff strips the /api prefix):
//
//	GET /whoami  what the API learned from the token, as JSON
//	GET /events  five server-sent events, 200ms apart
//
// Every error is an RFC 9457 problem+json body. A missing or failed token
// gets 401 with a Bearer challenge (RFC 6750), which is bff's cue that its
// session cannot reach the API any more.
//
// New makes no request. The OP is discovered on the first request that
// needs it, because in the demo the OP may start after the API; a failed
// discovery answers 503 and is tried again on the next request. ctx bounds
// those attempts: once it is done, discovery is no longer tried.
func New(ctx context.Context, cfg Config) (http.Handler, error) {
	a, err := build(ctx, cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/whoami", a.authenticated(a.whoami))
	mux.Handle("/events", a.authenticated(a.events))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, http.StatusNotFound, "Not Found", "The demo API has no such resource.")
	})
	return mux, nil
}

// build checks cfg and fills in its defaults.
func build(ctx context.Context, cfg Config) (*api, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("api: issuer is required")
	}
	if cfg.Audience == "" {
		// An empty audience would make go-oidc refuse every token, or,
		// worse, tempt someone to skip the check.
		return nil, errors.New("api: audience is required")
	}
	a := &api{
		issuer:      cfg.Issuer,
		audience:    cfg.Audience,
		client:      cfg.HTTPClient,
		log:         cfg.Logger,
		now:         cfg.Now,
		life:        ctx,
		discovering: make(chan struct{}, 1),
	}
	if a.client == nil {
		a.client = &http.Client{Timeout: defaultTimeout}
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// principal is what a verified token tells a handler.
type principal struct {
	sub      string
	expiry   time.Time
	issuedAt time.Time
	scope    string
}

// authenticated guards a GET handler: the method is checked before the
// token, so a wrong method never costs a trip to the OP.
func (a *api) authenticated(next func(http.ResponseWriter, *http.Request, principal)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			problem.Write(w, http.StatusMethodNotAllowed, "Method Not Allowed", "Only GET is supported here.")
			return
		}
		raw, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			// RFC 6750 §3.1: a request with no credentials gets a bare
			// challenge; error codes are for credentials that failed.
			w.Header().Set("WWW-Authenticate", "Bearer")
			problem.Write(w, http.StatusUnauthorized, "Unauthorized", "A bearer access token is required.")
			return
		}
		v, err := a.verifierFor(r.Context())
		if err != nil {
			// The token may be fine; it is the API that cannot judge it
			// yet. A 401 here would wrongly send the user to log in again.
			a.log.WarnContext(r.Context(), "oidc discovery failed", "issuer", a.issuer, "err", err)
			w.Header().Set("Retry-After", "1")
			problem.Write(w, http.StatusServiceUnavailable, "Service Unavailable", "The API cannot reach its identity provider yet.")
			return
		}
		tok, err := v.Verify(r.Context(), raw)
		if err != nil {
			// go-oidc's errors name the failed check, never the token.
			a.log.InfoContext(r.Context(), "access token rejected", "err", err)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			problem.Write(w, http.StatusUnauthorized, "Unauthorized", "The access token is invalid or has expired.")
			return
		}
		var claims struct {
			Scope json.RawMessage `json:"scope"`
		}
		if err := tok.Claims(&claims); err != nil {
			// Verify has already parsed this payload as JSON, so this is
			// unreachable short of a go-oidc bug; fail closed all the same.
			a.log.ErrorContext(r.Context(), "read verified claims", "err", err)
			problem.Write(w, http.StatusInternalServerError, "Internal Server Error", "")
			return
		}
		next(w, r, principal{
			sub:      tok.Subject,
			expiry:   tok.Expiry,
			issuedAt: tok.IssuedAt,
			scope:    scopeString(claims.Scope),
		})
	})
}

// verifierFor returns the verifier, discovering the OP first if no earlier
// request has managed to.
func (a *api) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	if v := a.verifier.Load(); v != nil {
		return v, nil
	}
	select {
	case a.discovering <- struct{}{}:
		defer func() { <-a.discovering }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Whoever held the token before may have succeeded while this request
	// waited.
	if v := a.verifier.Load(); v != nil {
		return v, nil
	}
	if err := a.life.Err(); err != nil {
		return nil, fmt.Errorf("api stopped: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(a.life, cancel)()

	// The client travels in the context: that is how go-oidc takes one, and
	// the provider keeps it for the key fetches that follow.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, a.client), a.issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", a.issuer, err)
	}
	// The OP signs access tokens as JWTs with its ID token keys and lists
	// the client id in "aud", so the ID token verifier checks exactly what
	// an access token needs: signature, issuer, audience and expiry.
	v := p.Verifier(&oidc.Config{ClientID: a.audience, Now: a.now})
	a.verifier.Store(v)
	return v, nil
}

// bearer extracts the token from an Authorization header. The scheme is
// case-insensitive (RFC 7235 §2.1); the token itself is taken verbatim.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// scopeString accepts "scope" as RFC 9068's space-separated string or as
// the JSON array some OPs send, and reports it as the string form.
func scopeString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.Join(list, " ")
	}
	return ""
}

// whoamiResponse reports what the API learned from the token, and never
// the token itself: the demo shows that the browser cannot obtain it.
type whoamiResponse struct {
	Sub       string    `json:"sub"`
	ExpiresAt time.Time `json:"expiresAt"`
	// ExpiresIn is whole seconds left, as the API's clock sees it. It makes
	// bff's refresh visible: it climbs back up after a refresh.
	ExpiresIn int64     `json:"expiresIn"`
	IssuedAt  time.Time `json:"issuedAt,omitzero"`
	Scope     string    `json:"scope"`
	// Calls counts successful /whoami calls to this API instance.
	Calls int64 `json:"calls"`
}

func (a *api) whoami(w http.ResponseWriter, r *http.Request, p principal) {
	now := a.now()
	body := whoamiResponse{
		Sub:       p.sub,
		ExpiresAt: p.expiry.UTC().Truncate(time.Second),
		ExpiresIn: int64(p.expiry.Sub(now) / time.Second),
		IssuedAt:  p.issuedAt.UTC().Truncate(time.Second),
		Scope:     p.scope,
		Calls:     a.calls.Add(1),
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(body); err != nil {
		a.log.DebugContext(r.Context(), "write whoami", "err", err)
	}
}

// event is one server-sent event's data.
type event struct {
	N   int    `json:"n"`
	Sub string `json:"sub"`
}

// events streams eventCount events, flushing each one so that any proxy in
// between is seen to pass them on as they come rather than at the end.
func (a *api) events(w http.ResponseWriter, r *http.Request, p principal) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	tick := time.NewTicker(eventInterval)
	defer tick.Stop()
	for n := 1; n <= eventCount; n++ {
		if n > 1 {
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
		data, err := json.Marshal(event{N: n, Sub: p.sub})
		if err != nil {
			a.log.ErrorContext(r.Context(), "encode event", "err", err)
			return
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return // the client went away
		}
		if err := rc.Flush(); err != nil {
			a.log.DebugContext(r.Context(), "flush event", "err", err)
			return
		}
	}
}
