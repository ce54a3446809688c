package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"bff/cookie"
	"bff/demo"
	"bff/proxy"
)

// runDemo serves bff with the demo's OP, API and SPA, all in this process.
// It listens on loopback only: the demo user's password is printed.
func runDemo(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	addr := getenv("BFF_LISTEN")
	if addr == "" {
		port := getenv("PORT")
		if port == "" {
			port = "8080"
		}
		addr = "127.0.0.1:" + port
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("demo: %w (set PORT to use another port)", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	public := &url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}

	level := slog.LevelWarn
	if v := getenv("BFF_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			ln.Close()
			return fmt.Errorf("BFF_LOG_LEVEL: must be debug, info, warn or error")
		}
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: level}))

	env, err := demo.Start(ctx, public, log, demo.Options{})
	if err != nil {
		ln.Close()
		return err
	}
	defer env.Close()

	key, err := cookie.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	keys, err := cookie.ParseKeys(key)
	if err != nil {
		return err
	}
	cfg := &Config{
		Issuer:        env.Issuer,
		ClientID:      demo.ClientID,
		ClientSecret:  env.ClientSecret,
		PublicURL:     public,
		CookieKeys:    keys,
		Routes:        []proxy.Route{{Prefix: "/api/", Upstream: env.APIURL}},
		Scopes:        []string{"openid", "profile", "email", "offline_access"},
		SessionMaxAge: 12 * time.Hour,
		SessionIdle:   time.Hour,
	}
	fmt.Fprintf(stdout, `bff demo is running.

  Open      %s
  Log in as %s / %s

The demo API's access tokens live one minute: call the API, wait a minute,
call it again, and watch bff refresh the token. Press Ctrl+C to stop.
`, public, env.User.Username, env.User.Password)
	return serve(ctx, ln, cfg, log, extras{
		static: env.SPA,
		mounts: map[string]http.Handler{demo.IdPPath + "/": env.IdPHandler()},
	})
}
