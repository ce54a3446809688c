//go:build !js

// Package redisstore is bff's optional shared engine: a key-value store on
// Redis (6.2 or later) or Valkey that every replica reaches, for what a
// sealed cookie cannot do alone (revocation, one refresh across replicas,
// token sets too large for a cookie, login limits across replicas).
//
// Reads that sit on the path of every proxied request are served from a
// cache inside this process, which Redis keeps true with server-assisted
// client-side caching (RESP3 CLIENT TRACKING): Redis pushes an
// invalidation to every replica the moment a key it read changes. A live
// session's requests thus cost no round trip, and a revocation reaches
// every replica at once. When the connection breaks, the cache goes with
// it, so nothing is answered from a cache that Redis can no longer correct.
//
// The store knows nothing of sessions or tokens: callers hash their keys
// and seal their values, so nothing in Redis reveals a token.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// ErrUnavailable means Redis could not be reached, or did not answer in
// time.
var ErrUnavailable = errors.New("redis unavailable")

// cacheBytes bounds the client-side cache.
const cacheBytes = 16 << 20

// cacheTTL bounds how long a read is served from the local cache even
// without an invalidation: a safety net only, Redis pushes every change.
const cacheTTL = time.Minute

// Store is one replica's connection to the shared Redis. Its zero value is
// not usable; call [New] and then [Store.Run].
type Store struct {
	opt    rueidis.ClientOption
	log    *slog.Logger
	client atomic.Pointer[rueidis.Client]
	ready  atomic.Bool
	// timeout bounds each call, so a slow Redis becomes an error for the
	// request rather than a hang.
	timeout time.Duration
}

// New parses rawURL (redis:// or rediss://, with user, password and
// database number) without connecting: [Store.Run] connects, and keeps
// reconnecting. timeout bounds every call; 0 means 2 s.
func New(rawURL string, timeout time.Duration, log *slog.Logger) (*Store, error) {
	opt, err := rueidis.ParseURL(rawURL)
	if err != nil {
		// The URL may hold a password: never repeat it.
		return nil, errors.New("redis: the URL does not parse")
	}
	opt.ForceSingleClient = true
	// One pipelined connection, not rueidis's default four: bff's traffic
	// is small, and with several, a read of keys that hash to different
	// connections starts goroutines to read them in parallel, which costs
	// more than the read itself when the cache answers it. One connection
	// also means one client-side cache.
	opt.PipelineMultiplex = -1
	opt.ClientName = "bff"
	opt.Dialer.Timeout = 2 * time.Second
	opt.Dialer.KeepAlive = time.Second
	// A connection that stops answering is given up within 3 s, its
	// client-side cache with it.
	opt.ConnWriteTimeout = 3 * time.Second
	opt.DisableRetry = true
	// The cache holds a few hundred bytes per live session (its "ended?"
	// records) and the records of sessions kept in Redis; 16 MiB serves
	// tens of thousands of sessions and keeps a replica within a small
	// memory limit. Past it, the least recently used entries go, and are
	// read again from Redis when needed.
	opt.CacheSizeEachConn = cacheBytes
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{opt: opt, log: log, timeout: timeout}, nil
}

// ReadThrough turns the client-side cache off, so that every read is a
// round trip. It is for a process that may be frozen between requests
// (AWS Lambda): an invalidation Redis pushed while it was frozen could be
// read only after the next request was answered from the cache. Call it
// before Run.
func (s *Store) ReadThrough() { s.opt.DisableCache = true }

// Run connects, then checks the connection every second until ctx ends,
// reconnecting whenever Redis comes back. Ready reports the outcome.
func (s *Store) Run(ctx context.Context) {
	defer func() {
		if c := s.client.Swap(nil); c != nil {
			(*c).Close()
		}
		s.ready.Store(false)
	}()
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		if s.client.Load() == nil {
			c, err := rueidis.NewClient(s.opt)
			if err != nil {
				s.log.Warn("redis: cannot connect; retrying", "err", err, "retry_in", delay)
				if !sleep(ctx, delay+rand.N(delay/2)) {
					return
				}
				delay = min(delay*2, 5*time.Second)
				continue
			}
			s.client.Store(&c)
			delay = 100 * time.Millisecond
		}
		s.check(ctx)
		if !sleep(ctx, time.Second) {
			return
		}
	}
}

// check pings Redis and records whether it answered.
func (s *Store) check(ctx context.Context) {
	c := s.client.Load()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := (*c).Do(ctx, (*c).B().Ping().Build()).Error()
	was := s.ready.Swap(err == nil)
	switch {
	case err != nil && was:
		s.log.Error("redis: unreachable; requests that need it get 503", "err", err)
	case err == nil && !was:
		s.log.Info("redis: connected")
	}
}

// Ready reports whether Redis answered the last check.
func (s *Store) Ready() bool { return s.ready.Load() }

// do runs f with the client and the per-call deadline, mapping every
// failure but a missing key to ErrUnavailable.
func (s *Store) do(ctx context.Context, f func(ctx context.Context, c rueidis.Client) error) error {
	c := s.client.Load()
	if c == nil {
		return fmt.Errorf("%w: not connected", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := f(ctx, *c); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// GetCached returns the values of keys, "" for a key that does not exist,
// from the local cache when Redis has not said that they changed.
func (s *Store) GetCached(ctx context.Context, keys ...string) ([]string, error) {
	out := make([]string, len(keys))
	err := s.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		cmds := make([]rueidis.CacheableTTL, len(keys))
		for i, k := range keys {
			cmds[i] = rueidis.CT(c.B().Get().Key(k).Cache(), cacheTTL)
		}
		for i, r := range c.DoMultiCache(ctx, cmds...) {
			v, err := r.ToString()
			switch {
			case rueidis.IsRedisNil(err):
			case err != nil:
				return err
			default:
				out[i] = v
			}
		}
		return nil
	})
	return out, err
}

// Set stores value under key for ttl.
func (s *Store) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	return s.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		return c.Do(ctx, c.B().Set().Key(key).Value(value).Px(ttl).Build()).Error()
	})
}

// SetNX stores value under key for ttl unless key exists, and reports
// whether it did.
func (s *Store) SetNX(ctx context.Context, key, value string, ttl time.Duration) (bool, error) {
	var set bool
	err := s.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		err := c.Do(ctx, c.B().Set().Key(key).Value(value).Nx().Px(ttl).Build()).Error()
		switch {
		case rueidis.IsRedisNil(err):
			return nil
		case err != nil:
			return err
		}
		set = true
		return nil
	})
	return set, err
}

// setMax stores ARGV[1] under KEYS[1] for ARGV[2] ms unless it holds a
// number at least as large; a value that is no number is replaced.
var setMax = rueidis.NewLuaScript(`
local cur = tonumber(redis.call('GET', KEYS[1]))
if cur and cur >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// SetMax stores n under key for ttl unless key holds a number at least as
// large, in one step on Redis.
func (s *Store) SetMax(ctx context.Context, key string, n int64, ttl time.Duration) error {
	return s.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		return setMax.Exec(ctx, c, []string{key}, []string{strconv.FormatInt(n, 10), strconv.FormatInt(ttl.Milliseconds(), 10)}).Error()
	})
}

// Delete removes keys.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	return s.do(ctx, func(ctx context.Context, c rueidis.Client) error {
		return c.Do(ctx, c.B().Del().Key(keys...).Build()).Error()
	})
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
