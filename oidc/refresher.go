package oidc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"
)

// recentRefreshTTL is how long a refresh result is kept for requests that
// still carry the cookie from before it. Replaying their old refresh token
// would be refused by an IdP that rotates refresh tokens.
const recentRefreshTTL = 30 * time.Second

// maxRecentRefreshes bounds the memory the recent results may take.
const maxRecentRefreshes = 10_000

// maxRefused bounds the refused refresh tokens remembered: about 80 bytes
// each, so a few megabytes at most.
const maxRefused = 50_000

// refresher makes concurrent refreshes of one refresh token into a single
// call to the IdP, remembers the result briefly for requests that arrive
// with the old cookie, remembers refusals so that a dead cookie replayed
// costs the IdP nothing, and caps the calls in flight.
type refresher struct {
	now        func() time.Time
	timeout    time.Duration
	refusedTTL time.Duration
	slots      chan struct{}
	mu         sync.Mutex
	calls      map[[32]byte]*refreshCall
	recent     map[[32]byte]recentRefresh
	refused    map[[32]byte]time.Time // until when a refusal stands
}

type refreshCall struct {
	done chan struct{}
	res  refreshResult
	err  error
}

type recentRefresh struct {
	res   refreshResult
	until time.Time
}

// newRefresher returns a refresher that runs at most maxInFlight calls at
// once, each bounded by timeout, and remembers a refused refresh token for
// refusedTTL.
func newRefresher(maxInFlight int, now func() time.Time, timeout, refusedTTL time.Duration) *refresher {
	return &refresher{
		now:        now,
		timeout:    timeout,
		refusedTTL: refusedTTL,
		slots:      make(chan struct{}, maxInFlight),
		calls:      map[[32]byte]*refreshCall{},
		recent:     map[[32]byte]recentRefresh{},
		refused:    map[[32]byte]time.Time{},
	}
}

// do runs fn once per refresh token at a time. The key is a hash, so the
// maps never hold a refresh token that a heap dump could read as a key.
func (f *refresher) do(ctx context.Context, refreshToken string, fn func(context.Context) (refreshResult, error)) (refreshResult, error) {
	key := sha256.Sum256([]byte(refreshToken))
	f.mu.Lock()
	if r, ok := f.recent[key]; ok && f.now().Before(r.until) {
		f.mu.Unlock()
		return r.res, nil
	}
	if until, ok := f.refused[key]; ok && f.now().Before(until) {
		f.mu.Unlock()
		return refreshResult{}, fmt.Errorf("%w: refused before, not asked again", errRefused)
	}
	c, inFlight := f.calls[key]
	if !inFlight {
		c = &refreshCall{done: make(chan struct{})}
		f.calls[key] = c
	}
	f.mu.Unlock()

	if inFlight {
		select {
		case <-c.done:
			return c.res, c.err
		case <-ctx.Done():
			return refreshResult{}, ctx.Err()
		}
	}

	// The call outlives the request that started it: the requests waiting
	// on it must not fail because the first browser went away.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.timeout)
	defer cancel()
	c.res, c.err = f.run(callCtx, fn)

	f.mu.Lock()
	delete(f.calls, key)
	switch {
	case c.err == nil:
		f.remember(key, c.res)
	case errors.Is(c.err, errRefused):
		f.rememberRefusal(key)
	}
	f.mu.Unlock()
	close(c.done)
	return c.res, c.err
}

func (f *refresher) run(ctx context.Context, fn func(context.Context) (refreshResult, error)) (refreshResult, error) {
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	case <-ctx.Done():
		return refreshResult{}, fmt.Errorf("waiting for a refresh slot: %w", ctx.Err())
	}
	return fn(ctx)
}

// remember must be called with f.mu held.
func (f *refresher) remember(key [32]byte, res refreshResult) {
	now := f.now()
	evict(f.recent, maxRecentRefreshes, func(r recentRefresh) bool { return !now.Before(r.until) })
	f.recent[key] = recentRefresh{res: res, until: now.Add(recentRefreshTTL)}
}

// rememberRefusal must be called with f.mu held.
func (f *refresher) rememberRefusal(key [32]byte) {
	now := f.now()
	evict(f.refused, maxRefused, func(until time.Time) bool { return !now.Before(until) })
	f.refused[key] = now.Add(f.refusedTTL)
}

// evict makes room for one more entry in m, which holds at most max: the
// expired entries go first, then arbitrary ones. A forgotten result or
// refusal costs one more call at the IdP, never a session.
func evict[V any](m map[[32]byte]V, max int, expired func(V) bool) {
	if len(m) < max {
		return
	}
	for k, v := range m {
		if expired(v) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < max {
			return
		}
		delete(m, k)
	}
}
