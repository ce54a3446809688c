package bfftest

import (
	"cmp"
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"bff/demo/idp"
	"bff/demo/idp/idptest"
	"bff/internal/bfftest/kit"
	"bff/internal/endpoint"
)

// IdPPath is where an OP's issuer lives on its server.
const IdPPath = "/idp"

// OP is the demo OpenID provider on a loopback server of its own, recorded
// by an [idptest.Recorder]: its Counts and IssuedTokens are the OP's.
type OP struct {
	*idptest.Recorder
	Provider     *idp.Provider
	Server       *httptest.Server
	Issuer       string // Server.URL + IdPPath
	ClientID     string
	ClientSecret string
	// Down makes the OP answer every request with 503 while it is true.
	Down atomic.Bool
}

// OPOptions shape an OP. The zero value is the demo's OP for a client
// "bff", on 127.0.0.1.
type OPOptions struct {
	// Host is the loopback address to listen on; "" is 127.0.0.1. Another
	// one (127.0.0.2) puts the OP on a site of its own, as a browser sees
	// sites.
	Host      string
	ClientID  string        // "" is "bff"
	AccessTTL time.Duration // the OP's access-token lifetime; 0 is its default
	Reuse     time.Duration // the refresh-token reuse interval; 0 is strict rotation
	// ClientAuth, when set, is the one client authentication method the OP
	// accepts at its token and revocation endpoints and lists in
	// discovery: "client_secret_basic" or "client_secret_post". Empty
	// accepts and lists both.
	ClientAuth string
	// Users who can log in; empty is the demo user alone. [OP.Login] signs
	// in with the demo user's name and password, so a test that wants other
	// claims (large ones, to make a session span cookie chunks) keeps those.
	Users []idp.User
	// Wrap, when set, sits between the network and the OP, to make it slow
	// or change what it says.
	Wrap   func(http.Handler) http.Handler
	Logger *slog.Logger // nil discards
	// Unstarted leaves Server for the test to Start: an IdP that is not
	// up yet.
	Unstarted bool
}

// StartOP starts an OP whose one client is bff deployed at public: its
// redirect URI is public's /auth/callback, and logout may return to public.
// It stops when the test ends.
func StartOP(t testing.TB, public *url.URL, o OPOptions) *OP {
	t.Helper()
	op := &OP{ClientID: cmp.Or(o.ClientID, "bff"), ClientSecret: rand.Text()}
	srv := httptest.NewUnstartedServer(nil)
	if o.Host != "" {
		ln, err := net.Listen("tcp", net.JoinHostPort(o.Host, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", o.Host, err)
		}
		srv.Listener.Close()
		srv.Listener = ln
	}
	op.Issuer = "http://" + srv.Listener.Addr().String() + IdPPath
	var err error
	op.Provider, err = idp.New(idp.Config{
		Issuer:                 op.Issuer,
		ClientID:               op.ClientID,
		ClientSecret:           op.ClientSecret,
		RedirectURIs:           []string{public.JoinPath(endpoint.Callback).String()},
		PostLogoutRedirectURIs: []string{public.JoinPath("/").String()},
		BackchannelLogoutURI:   public.JoinPath(endpoint.BackchannelLogout).String(),
		AccessTokenLifetime:    o.AccessTTL,
		RefreshReuseInterval:   o.Reuse,
		Users:                  o.Users,
		Logger:                 o.Logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	op.Recorder = idptest.Record(op.Provider, op.ClientID, op.ClientSecret)
	var served http.Handler = op.Recorder
	if o.ClientAuth != "" {
		// Outside the Recorder, so RevokeAll, which calls the OP directly,
		// is not held to it.
		only, err := clientAuth(o.ClientAuth)
		if err != nil {
			t.Fatal(err)
		}
		served = only(served)
	}
	mux := http.NewServeMux()
	mux.Handle(IdPPath+"/", http.StripPrefix(IdPPath, served))
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op.Down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	})
	if o.Wrap != nil {
		h = o.Wrap(h)
	}
	srv.Config.Handler = h
	op.Server = srv
	if !o.Unstarted {
		srv.Start()
	}
	t.Cleanup(func() {
		if srv.URL == "" { // never started: only the listener to close
			srv.Listener.Close()
			return
		}
		srv.Close()
	})
	return op
}

// Origin is the OP server's origin, "http://127.0.0.1:P".
func (op *OP) Origin() string { return op.Server.URL }

// Login signs the demo user in at the OP's form, starting from the
// authorize URL bff redirected to, and returns the callback URL the OP
// sends the browser back to. client must not follow redirects.
func (op *OP) Login(t testing.TB, client *http.Client, authorizeURL string) *url.URL {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	user := idp.DemoUser()
	cb, err := idptest.Login(ctx, client, authorizeURL, user.Username, user.Password)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// IdP is the OP as a [Stack] uses it.
func (op *OP) IdP() IdP {
	return IdP{Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret, Login: op.Login}
}

// IDTokenClaims are the claims of the last ID token the OP issued.
func (op *OP) IDTokenClaims(t testing.TB) map[string]any {
	t.Helper()
	for _, tok := range slices.Backward(op.IssuedTokens()) {
		var c map[string]any
		if kit.UnverifiedClaims(tok, &c) == nil && c["nonce"] != nil {
			return c
		}
	}
	t.Fatal("the OP issued no ID token")
	return nil
}

// RevokeAll revokes every token the OP issued; see [idptest.Recorder.RevokeAll].
func (op *OP) RevokeAll(t testing.TB) {
	t.Helper()
	if err := op.Recorder.RevokeAll(); err != nil {
		t.Fatal(err)
	}
}
