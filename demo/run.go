package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"

	"bff/cookie"
	"bff/demo/spa"
	"bff/internal/config"
	"bff/internal/server"
)

// Run serves bff with the demo's OP, API and SPA, all in this process,
// until ctx ends: `bff demo`. It listens on loopback only, because the demo
// user's password is printed. BFF_LISTEN or PORT choose the address;
// every other setting is bff's default for the configuration the demo
// makes, and BFF_LOG_LEVEL (default warn) applies as usual.
func Run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
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
	defer ln.Close()
	// Checked on the bound address, so a name that resolves elsewhere, or
	// 0.0.0.0, is caught as well as a literal address.
	bound := ln.Addr().(*net.TCPAddr)
	if !bound.IP.IsLoopback() {
		return fmt.Errorf("demo: BFF_LISTEN=%s listens on %s, which is not a loopback address: the demo prints its user's password, so it serves this machine only (use 127.0.0.1 or localhost)", addr, bound.IP)
	}
	public := &url.URL{Scheme: "http", Host: bound.String()}

	level := slog.LevelWarn
	if v := getenv("BFF_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("BFF_LOG_LEVEL: must be debug, info, warn or error")
		}
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: level}))

	env, err := start(ctx, public, log)
	if err != nil {
		return err
	}
	defer env.Close()

	key, err := cookie.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	// The demo is configured the way an operator configures bff, so it
	// runs with bff's defaults and its validation.
	demoEnv := map[string]string{
		"BFF_ISSUER":        env.Issuer,
		"BFF_CLIENT_ID":     ClientID,
		"BFF_CLIENT_SECRET": env.ClientSecret,
		"BFF_PUBLIC_URL":    public.String(),
		"BFF_COOKIE_KEYS":   key,
		"BFF_ROUTES":        "/api/=" + env.APIURL.String(),
		"BFF_LOG_LEVEL":     level.String(),
		"BFF_CSP":           spa.CSP,
		// A page of the SPA that needs a session, to show bff sending a
		// browser to sign in and back.
		"BFF_PROTECTED_PATHS": "/account",
	}
	// With Redis, the demo shows what it adds: a sign-out at the OP ends
	// the session at bff too (back-channel logout).
	for _, name := range []string{"BFF_REDIS_URL", "BFF_REDIS_URL_FILE"} {
		if v := getenv(name); v != "" {
			demoEnv[name] = v
		}
	}
	cfg, err := config.Load(func(name string) string { return demoEnv[name] })
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	srv, err := server.New(cfg, log, server.Options{
		Static: spa.FS(),
		Mounts: map[string]http.Handler{IdPPath + "/": env.IdPHandler()},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `bff demo is running.

  Open      %s
  Log in as %s / %s

The demo API's access tokens live one minute: call the API, wait a minute,
call it again, and watch bff refresh the token. Press Ctrl+C to stop.
%s`, public, env.User.Username, env.User.Password, redisHint(cfg.RedisURL != "", public))
	return srv.Run(ctx, ln)
}

// redisHint tells the demo's user what Redis shows, or how to turn it on.
func redisHint(on bool, public *url.URL) string {
	if on {
		return fmt.Sprintf("\nSigning out at the identity provider (%s) ends the session at bff too.\n",
			public.JoinPath(IdPPath, "account"))
	}
	return "\nWith BFF_REDIS_URL=redis://... a sign-out at the identity provider ends the session at bff too.\n"
}
