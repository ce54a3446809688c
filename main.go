// Command bff is a stateless Backend for Frontend: it signs a single-page
// app's users in with OpenID Connect, keeps their tokens sealed in cookies
// instead of a server-side store, and proxies the app's API calls with the
// access token attached.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"bff/cookie"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bff:", err)
		os.Exit(1)
	}
}

const usage = `usage: bff [demo | keygen | version]
  bff          serve, configured from BFF_* environment variables
  bff demo     run a self-contained demo (OpenID provider, API and SPA in one process)
  bff keygen   print a new cookie key for BFF_COOKIE_KEYS
  bff version  print the version`

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := ""
	if len(args) > 1 {
		cmd = args[1]
	}
	if len(args) > 2 {
		return fmt.Errorf("unexpected arguments after %q\n%s", cmd, usage)
	}
	switch cmd {
	case "":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		log := newLogger(stdout, cfg.LogLevel)
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return fmt.Errorf("BFF_LISTEN: %w", err)
		}
		return serve(ctx, ln, cfg, log, extras{})
	case "demo":
		return runDemo(ctx, getenv, stdout)
	case "keygen":
		key, err := cookie.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, key)
		return err
	case "version", "-version", "--version":
		_, err := fmt.Fprintln(stdout, "bff", buildVersion())
		return err
	case "help", "-h", "-help", "--help":
		_, err := fmt.Fprintln(stdout, usage)
		return err
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// serve runs the public server on ln until ctx ends, then drains it.
func serve(ctx context.Context, ln net.Listener, cfg *Config, log *slog.Logger, x extras) error {
	app, err := newApp(cfg, log, x)
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           app.handler,
		ReadHeaderTimeout: cmp.Or(x.readHeaderTimeout, 10*time.Second), // cuts slow-header (slowloris) clients
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { _ = app.auth.Discover(ctx) }()

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var metricsSrv *http.Server
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("BFF_METRICS_LISTEN: %w", err)
		}
		metricsSrv = &http.Server{Handler: metricsMux(app), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- metricsSrv.Serve(mln) }()
		log.Info("metrics listening", "addr", mln.Addr().String())
	}
	log.Info("bff listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL.String(), "version", buildVersion())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if metricsSrv != nil {
		defer metricsSrv.Close()
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// metricsMux is the metrics listener's whole surface: /metrics, nothing of
// the public one.
func metricsMux(a *app) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	return mux
}

// maxHeaderBytes leaves room for a session split into the most chunks a
// browser will keep, and no more.
const maxHeaderBytes = 64 << 10

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
	}
	return "dev"
}
