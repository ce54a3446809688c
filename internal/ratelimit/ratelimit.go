// Package ratelimit limits how often each client may call bff, with one
// token bucket ([golang.org/x/time/rate]) per client address.
//
// A bucket holds up to Burst tokens and refills at Rate tokens per second;
// each request takes one, and a request that finds the bucket empty is
// refused with 429 Too Many Requests and a Retry-After saying when the next
// token arrives. A client can therefore send Burst requests at once, then
// Rate per second for as long as it likes.
//
// # Memory
//
// Buckets live in memory, so the number of addresses tracked is bounded
// (Config.MaxKeys). A bucket that has refilled completely is idle, and
// forgetting it loses nothing: a bucket created afresh for the same address
// would be full too. Idle buckets are removed lazily as new addresses
// arrive, looking first at those used longest ago, so no goroutine runs in
// the background. Only idle buckets are ever removed; a client cannot wipe
// its own record by making room with other addresses.
//
// When the table is full and none of the least recently used buckets is
// idle (so every tracked address has been active within the time a bucket
// takes to refill), addresses not yet tracked share a single overflow
// bucket with the same Rate and Burst. This is the choice for a flood of
// distinct source addresses: letting them through unlimited would make
// the limit worthless exactly when it matters, and refusing them outright
// would lock out every new visitor for as long as the table stays full.
// Sharing one bucket limits the flood collectively, still lets some new
// visitors through, and leaves every tracked client limited exactly as
// before. While the table is full, new visitors compete with the flood for
// that bucket's tokens; as buckets go idle, new addresses get buckets of
// their own again.
//
// # Addresses as keys
//
// IPv4-mapped IPv6 addresses count as the IPv4 address, zones are ignored,
// and IPv6 addresses are grouped by their /64 prefix: a /64 is what one
// household or one server is usually given, and an address within it can be
// chosen freely, so limiting single IPv6 addresses would let one client
// take a fresh bucket for every request. The invalid zero [netip.Addr] (an
// address that could not be determined) is one key like any other, so all
// such requests share one bucket.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"bff/internal/problem"
)

// DefaultMaxKeys is the number of addresses tracked when Config.MaxKeys is
// not set. Each costs roughly 200 bytes, so the default stays near 20 MB.
const DefaultMaxKeys = 100_000

// sweepScan is how many least recently used buckets are checked for
// idleness each time a new address arrives. A handful keeps the table
// trimmed to the addresses in recent use at a small constant cost per new
// address, with no full scan ever holding the lock.
const sweepScan = 8

// maxRetryAfter caps the Retry-After of a very slow Rate, where the
// division would otherwise overflow a time.Duration.
const maxRetryAfter = 1 << 31 * time.Second

// Config sets a Limiter's parameters.
type Config struct {
	// Rate is the number of tokens per second added to each bucket.
	// It must be positive; [rate.Inf] disables limiting altogether.
	Rate rate.Limit
	// Burst is the size of each bucket: how many requests a client can
	// make at once after being quiet. It must be at least 1.
	Burst int
	// MaxKeys bounds the number of addresses tracked at once (see the
	// package documentation for what happens when the table is full).
	// Zero or less means DefaultMaxKeys.
	MaxKeys int
	// Now returns the current time; nil means [time.Now]. Tests set it
	// to move time forward without sleeping.
	Now func() time.Time
	// Shared, when set, keeps the buckets where every replica takes from
	// them (Redis), so the limit counts across replicas. While it cannot
	// be reached, each replica limits with its own buckets.
	Shared Shared
}

// Shared is a store of token buckets every replica reaches.
type Shared interface {
	// Take takes one token from the bucket named key, which refills at r
	// per second up to burst; when there is none, retryAfter is how long
	// until there will be.
	Take(ctx context.Context, key string, r rate.Limit, burst int) (ok bool, retryAfter time.Duration, err error)
}

// Limiter is a per-key token bucket, keyed by client address. It is safe
// for concurrent use.
type Limiter struct {
	rate    rate.Limit
	burst   int
	maxKeys int
	now     func() time.Time

	shared Shared

	mu       sync.Mutex
	keys     map[netip.Addr]*bucket
	lru      bucket // list head: lru.next is the most recently used, lru.prev the least
	overflow *rate.Limiter
}

// bucket is one tracked address, linked into the Limiter's recency list.
type bucket struct {
	key        netip.Addr
	lim        *rate.Limiter
	prev, next *bucket
}

// New returns a Limiter for cfg. It panics if Rate is not positive or Burst
// is less than 1 (unless Rate is [rate.Inf]): those would refuse every
// request, which is a configuration mistake to catch at startup rather
// than a limit.
func New(cfg Config) *Limiter {
	if cfg.Rate != rate.Inf && (!(cfg.Rate > 0) || cfg.Burst < 1) {
		panic(fmt.Sprintf("ratelimit: rate %v with burst %d would refuse every request", float64(cfg.Rate), cfg.Burst))
	}
	l := &Limiter{
		rate:     cfg.Rate,
		burst:    cfg.Burst,
		maxKeys:  cfg.MaxKeys,
		now:      cfg.Now,
		shared:   cfg.Shared,
		keys:     make(map[netip.Addr]*bucket),
		overflow: rate.NewLimiter(cfg.Rate, cfg.Burst),
	}
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	if l.now == nil {
		l.now = time.Now
	}
	l.lru.next, l.lru.prev = &l.lru, &l.lru
	return l
}

// Allow reports whether a request from key may proceed now, and takes a
// token if so. When it may not, retryAfter is how long until it would be
// allowed, rounded up to whole seconds and at least one, as Retry-After
// needs. A refused request takes nothing, so a client that keeps retrying
// is not pushed further back.
func (l *Limiter) Allow(key netip.Addr) (ok bool, retryAfter time.Duration) {
	if l.rate == rate.Inf {
		return true, 0
	}
	key = bucketKey(key)
	now := l.now()

	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.limiterFor(key, now)
	if lim.AllowN(now, 1) {
		return true, 0
	}
	return false, l.retryAfter(lim, now)
}

// Middleware wraps next so that a request whose key is over the limit is
// answered 429 with Retry-After and a problem+json body, and never reaches
// next. key is typically [bff/internal/clientip.Resolver.IP].
func (l *Limiter) Middleware(key func(*http.Request) netip.Addr, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, retryAfter := l.allowShared(r.Context(), key(r))
		if !ok {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(retryAfter/time.Second), 10))
			problem.Write(w, http.StatusTooManyRequests, "Too Many Requests",
				"Too many requests from this address. Try again after the time in Retry-After.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allowShared is Allow across replicas when a shared store is set and
// answers, and Allow on this replica's own buckets otherwise.
func (l *Limiter) allowShared(ctx context.Context, key netip.Addr) (bool, time.Duration) {
	if l.shared == nil || l.rate == rate.Inf {
		return l.Allow(key)
	}
	sum := sha256.Sum256([]byte(bucketKey(key).String()))
	ok, retryAfter, err := l.shared.Take(ctx, "bff:limit:"+hex.EncodeToString(sum[:16]), l.rate, l.burst)
	if err != nil {
		return l.Allow(key)
	}
	if ok {
		return true, 0
	}
	return false, max(time.Second, (retryAfter+time.Second-1)/time.Second*time.Second)
}

// limiterFor returns key's bucket, creating it if there is room, or else
// the overflow bucket. l.mu must be held.
func (l *Limiter) limiterFor(key netip.Addr, now time.Time) *rate.Limiter {
	if b, ok := l.keys[key]; ok {
		l.unlink(b)
		l.pushFront(b)
		return b.lim
	}
	b := l.sweep(now)
	if b == nil {
		if len(l.keys) >= l.maxKeys {
			return l.overflow
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
	}
	b.key = key
	l.keys[key] = b
	l.pushFront(b)
	return b.lim
}

// sweep removes the idle buckets among the sweepScan least recently used,
// and returns one of them for reuse, or nil if none was idle. An idle
// bucket is full, exactly like a new one, so reusing it saves an
// allocation without giving anyone tokens they had not earned.
//
// Looking only at the least recently used end is enough in the case that
// matters: if even those buckets are not full, every tracked address was
// used within the time a bucket takes to refill.
func (l *Limiter) sweep(now time.Time) *bucket {
	var reuse *bucket
	full := float64(l.burst)
	b := l.lru.prev
	for range sweepScan {
		if b == &l.lru {
			break
		}
		prev := b.prev
		if b.lim.TokensAt(now) >= full {
			l.unlink(b)
			delete(l.keys, b.key)
			if reuse == nil {
				reuse = b
			}
		}
		b = prev
	}
	return reuse
}

// retryAfter is how long until lim has a whole token, in whole seconds.
func (l *Limiter) retryAfter(lim *rate.Limiter, now time.Time) time.Duration {
	missing := 1 - lim.TokensAt(now)
	// The tolerance absorbs float rounding in the token count, which would
	// otherwise turn an exact second into two.
	secs := math.Ceil(missing/float64(l.rate) - 1e-9)
	if secs < 1 {
		secs = 1
	}
	if secs > float64(maxRetryAfter/time.Second) {
		return maxRetryAfter
	}
	return time.Duration(secs) * time.Second
}

func (l *Limiter) unlink(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
}

func (l *Limiter) pushFront(b *bucket) {
	b.prev, b.next = &l.lru, l.lru.next
	l.lru.next.prev = b
	l.lru.next = b
}

// bucketKey maps an address to the key its requests are counted under.
func bucketKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64) // cannot fail: 64 is within an IPv6 address, and the zone is dropped
		return p.Addr()
	}
	return a
}
