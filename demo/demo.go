// Package demo assembles bff's zero-infrastructure demo: an in-process
// OpenID provider, a small API that trusts only its access tokens, and an
// SPA for bff to serve, and [Run] wires them to a normal bff: `bff demo`.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"bff/demo/api"
	"bff/demo/idp"
	"bff/internal/endpoint"
)

// ClientID is the client the demo OP registers for bff.
const ClientID = "bff-demo"

// IdPPath is where the OP is mounted on bff's own listener, so the demo
// needs one port only.
const IdPPath = "/idp"

// Env is a running demo backend, ready to be wired into bff.
type Env struct {
	Issuer       string
	ClientSecret string
	APIURL       *url.URL // the demo API's loopback address, a BFF route upstream
	IdP          *idp.Provider
	User         idp.User

	apiServer *http.Server
}

const (
	accessTokenLifetime  = time.Minute      // short, so refresh is visible
	refreshReuseInterval = 30 * time.Second // like a production IdP under rotation
)

// start starts the demo API on a loopback port and builds the OP for
// publicURL, the origin bff will serve on. Close releases the API.
func start(ctx context.Context, publicURL *url.URL, log *slog.Logger) (*Env, error) {
	secret := make([]byte, 24)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	env := &Env{
		Issuer:       publicURL.JoinPath(IdPPath).String(),
		ClientSecret: base64.RawURLEncoding.EncodeToString(secret),
		User:         idp.DemoUser(),
	}
	provider, err := idp.New(idp.Config{
		Issuer:                 env.Issuer,
		ClientID:               ClientID,
		ClientSecret:           env.ClientSecret,
		RedirectURIs:           []string{publicURL.JoinPath(endpoint.Callback).String()},
		PostLogoutRedirectURIs: []string{publicURL.JoinPath("/").String()},
		BackchannelLogoutURI:   publicURL.JoinPath(endpoint.BackchannelLogout).String(),
		HTTPClient:             &http.Client{Timeout: 10 * time.Second},
		AccessTokenLifetime:    accessTokenLifetime,
		RefreshReuseInterval:   refreshReuseInterval,
		Logger:                 log.With("component", "demo-idp"),
	})
	if err != nil {
		return nil, fmt.Errorf("demo identity provider: %w", err)
	}
	env.IdP = provider

	apiHandler, err := api.New(ctx, api.Config{
		Issuer:     env.Issuer,
		Audience:   ClientID,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Logger:     log.With("component", "demo-api"),
	})
	if err != nil {
		return nil, fmt.Errorf("demo api: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo api: %w", err)
	}
	env.APIURL = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	env.apiServer = &http.Server{Handler: apiHandler, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := env.apiServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo api stopped", "err", err)
		}
	}()
	return env, nil
}

// IdPHandler serves the OP under IdPPath.
func (e *Env) IdPHandler() http.Handler { return http.StripPrefix(IdPPath, e.IdP) }

// Close stops the demo API.
func (e *Env) Close() error { return e.apiServer.Close() }
