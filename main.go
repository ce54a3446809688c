// Command bff is a stateless Backend for Frontend: it signs a single-page
// app's users in with OpenID Connect, keeps their tokens sealed in cookies
// instead of a server-side store, and proxies the app's API calls with the
// access token attached.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"bff/cookie"
	"bff/demo"
	"bff/internal/config"
	"bff/internal/server"
	"bff/internal/telemetry"
	"bff/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(os.Stderr, "bff: %s\n\n%s", u.msg, help())
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "bff:", err)
		os.Exit(1)
	}
}

// usageError is a command line bff does not understand: exit status 2,
// with the help.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func help() string {
	return `usage: bff [command]

commands:
  (none)    serve, configured from the environment below
  demo      run a self-contained demo (OpenID provider, API and SPA in one process)
  keygen    print a new cookie key for BFF_COOKIE_KEYS
  version   print the version
  help      print this

environment (a secret's _FILE form names a file holding it):
` + config.Help()
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := ""
	if len(args) > 1 {
		cmd = args[1]
	}
	if len(args) > 2 {
		return usageError{fmt.Sprintf("unexpected arguments after %q", cmd)}
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
		_, err := io.WriteString(stdout, help())
		return err
	default:
		return usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
}

// serve runs bff as configured by the environment until ctx ends.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	// Access-log lines are written in chunks, at least every second and
	// when serve returns, after the last request has drained. Lambda
	// freezes the process between invocations, timers and all, and may end
	// it without a signal: there each line goes out as it is logged, before
	// its invocation's result is complete.
	lambda := getenv("AWS_LAMBDA_RUNTIME_API") != "" // started by the Lambda runtime
	chunk, interval := 32<<10, time.Second
	if lambda {
		chunk, interval = 0, 0
	}
	logs := telemetry.NewLogBuffer(stdout, chunk, interval)
	defer logs.Close()
	log := slog.New(telemetry.NewLogHandler(logs, &slog.HandlerOptions{Level: cfg.LogLevel}))
	telemetry.LogErrors(log)
	srv, err := server.New(cfg, log, server.Options{})
	if err != nil {
		return err
	}
	if lambda {
		return srv.RunLambda(ctx)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("BFF_LISTEN: %w", err)
	}
	return srv.Run(ctx, ln)
}
