//go:build js

package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/time/rate"
)

// In the WebAssembly (Cloudflare Worker) build there is no Redis: Go's net
// package has no sockets on js/wasm, so no client could ever connect, and
// leaving the client library out takes most of the Worker's size away.
// New refuses, so nothing else here is ever called.

// ErrUnavailable means Redis could not be reached.
var ErrUnavailable = errors.New("redis unavailable")

// Store is never made in this build.
type Store struct{}

// New refuses: a Worker cannot reach Redis.
func New(string, time.Duration, *slog.Logger) (*Store, error) {
	return nil, errors.New("redis: not available in the Worker build")
}

func (s *Store) Run(context.Context) {}
func (s *Store) ReadThrough()        {}
func (s *Store) Ready() bool         { return false }

func (s *Store) GetCached(context.Context, ...string) ([]string, error) {
	return nil, ErrUnavailable
}

func (s *Store) Set(context.Context, string, string, time.Duration) error { return ErrUnavailable }

func (s *Store) SetNX(context.Context, string, string, time.Duration) (bool, error) {
	return false, ErrUnavailable
}

func (s *Store) SetMax(context.Context, string, int64, time.Duration) error { return ErrUnavailable }

func (s *Store) Delete(context.Context, ...string) error { return ErrUnavailable }

func (s *Store) Take(context.Context, string, rate.Limit, int) (bool, time.Duration, error) {
	return false, 0, ErrUnavailable
}
