package oidc_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"bff/oidc"
)

// memShared is an oidc.Shared in a map, for tests that call the handler
// directly. It refuses what Redis refuses (a TTL that is not positive),
// and remembers each key's TTL. The Redis suites use a real Redis.
type memShared struct {
	mu   sync.Mutex
	m    map[string]memEntry
	down bool // every call fails, as when Redis cannot be reached
}

type memEntry struct {
	v   string
	ttl time.Duration
}

var _ oidc.Shared = (*memShared)(nil)

func newMemShared() *memShared {
	return &memShared{m: map[string]memEntry{}}
}

var errMemSharedDown = errors.New("memShared: down")

func (s *memShared) GetCached(_ context.Context, keys ...string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, errMemSharedDown
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = s.m[k].v
	}
	return out, nil
}

func (s *memShared) Set(_ context.Context, key, value string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set(key, value, ttl)
}

func (s *memShared) set(key, value string, ttl time.Duration) error {
	switch {
	case s.down:
		return errMemSharedDown
	case ttl <= 0:
		return errors.New("memShared: invalid expire time")
	}
	s.m[key] = memEntry{v: value, ttl: ttl}
	return nil
}

func (s *memShared) SetNX(_ context.Context, key, value string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; ok && !s.down {
		return false, nil
	}
	return true, s.set(key, value, ttl)
}

func (s *memShared) SetMax(_ context.Context, key string, n int64, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, err := strconv.ParseInt(s.m[key].v, 10, 64); err == nil && cur >= n && !s.down {
		return nil
	}
	return s.set(key, strconv.FormatInt(n, 10), ttl)
}

func (s *memShared) Delete(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errMemSharedDown
	}
	for _, k := range keys {
		delete(s.m, k)
	}
	return nil
}

// setDown makes every call fail, or work again.
func (s *memShared) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// withPrefix returns the entries whose keys begin with prefix
// ("bff:end-sub:"); "" is all of them.
func (s *memShared) withPrefix(prefix string) map[string]memEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]memEntry{}
	for k, e := range s.m {
		if strings.HasPrefix(k, prefix) {
			out[k] = e
		}
	}
	return out
}
