// Command bff is a stateless Backend for Frontend: it signs a single-page
// app's users in with OpenID Connect, keeps their tokens sealed in cookies
// instead of a server-side store, and proxies the app's API calls with the
// access token attached.
package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"bff/cookie"
	"bff/demo"
	"bff/internal/config"
	"bff/internal/server"
	"bff/internal/version"
)

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
		return serve(ctx, getenv, stdout)
	case "demo":
		return demo.Run(ctx, getenv, stdout)
	case "keygen":
		key, err := cookie.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, key)
		return err
	case "version", "-version", "--version":
		_, err := fmt.Fprintln(stdout, "bff", version.String())
		return err
	case "help", "-h", "-help", "--help":
		_, err := fmt.Fprintln(stdout, usage)
		return err
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// serve runs bff as configured by the environment until ctx ends.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))
	srv, err := server.New(cfg, log, server.Options{})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("BFF_LISTEN: %w", err)
	}
	return srv.Run(ctx, ln)
}
