package redisstore_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"bff/internal/bfftest"
	"bff/internal/redisstore"
)

func TestMain(m *testing.M) { bfftest.RedisMain(m) }

// running starts a store on r and waits until it is ready.
func running(t testing.TB, r *bfftest.Redis) *redisstore.Store {
	t.Helper()
	s := bfftest.RunStore(t, r.URL)
	waitFor(t, "the store to be ready", s.Ready)
	return s
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !bfftest.Eventually(10*time.Second, cond) {
		t.Fatalf("waited 10 s for %s", what)
	}
}

func TestKV(t *testing.T) {
	r := bfftest.RedisDB(t)
	a, b := running(t, r), running(t, r) // two replicas
	ctx := context.Background()

	if v, err := a.GetCached(ctx, "k1", "k2"); err != nil || v[0] != "" || v[1] != "" {
		t.Fatalf("GetCached of absent keys: %q %v", v, err)
	}
	if err := b.Set(ctx, "k1", "one", time.Minute); err != nil {
		t.Fatal(err)
	}
	// a read both keys before: Redis pushes the invalidation, and a's next
	// read sees the value, within a second.
	waitFor(t, "the write to reach the other replica's cache", func() bool {
		v, err := a.GetCached(ctx, "k1", "k2")
		return err == nil && v[0] == "one" && v[1] == ""
	})
	if set, err := a.SetNX(ctx, "k1", "two", time.Minute); err != nil || set {
		t.Errorf("SetNX on an existing key: %v %v", set, err)
	}
	if set, err := a.SetNX(ctx, "k3", "three", time.Minute); err != nil || !set {
		t.Errorf("SetNX on a new key: %v %v", set, err)
	}
	if err := a.Delete(ctx, "k1", "k3"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the delete to reach the other replica's cache", func() bool {
		v, err := b.GetCached(ctx, "k1")
		return err == nil && v[0] == ""
	})
}

// TestSetMax: the larger number stands, whatever order two replicas
// write in, with the TTL of the write that set it.
func TestSetMax(t *testing.T) {
	r := bfftest.RedisDB(t)
	a, b := running(t, r), running(t, r)
	ctx := context.Background()
	for _, step := range []struct {
		s    *redisstore.Store
		n    int64
		want string
	}{
		{a, 100, "100"}, // absent: set
		{b, 50, "100"},  // smaller: kept
		{b, 100, "100"}, // equal: kept
		{a, 150, "150"}, // larger: set
	} {
		if err := step.s.SetMax(ctx, "cut", step.n, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := r.Value("cut"); got != step.want {
			t.Errorf("after SetMax(%d): %q, want %q", step.n, got, step.want)
		}
	}
	if ttl, err := r.Do("PTTL", "cut"); err != nil || ttl.(int64) <= 0 || ttl.(int64) > 60_000 {
		t.Errorf("PTTL %v %v, want up to a minute", ttl, err)
	}
	if err := a.Set(ctx, "cut", "garbage", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.SetMax(ctx, "cut", 7, time.Minute); err != nil || r.Value("cut") != "7" {
		t.Errorf("SetMax over a value that is no number: %q %v, want 7", r.Value("cut"), err)
	}
}

// TestCachedReadsCostNoRoundTrip: a read that Redis has not invalidated is
// answered from the process, so Redis sees it once.
func TestCachedReadsCostNoRoundTrip(t *testing.T) {
	r := bfftest.RedisDB(t)
	s := running(t, r)
	ctx := context.Background()
	s.Set(ctx, "session", "live", time.Minute)
	calls := func() int64 {
		info, err := r.Do("INFO", "commandstats")
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(info.(string), "\n") {
			if rest, ok := strings.CutPrefix(line, "cmdstat_get:calls="); ok {
				n, _, _ := strings.Cut(rest, ",")
				var v int64
				for _, c := range n {
					v = v*10 + int64(c-'0')
				}
				return v
			}
		}
		return 0
	}
	before := calls()
	for range 1000 {
		if v, err := s.GetCached(ctx, "session"); err != nil || v[0] != "live" {
			t.Fatalf("GetCached: %q %v", v, err)
		}
	}
	if n := calls() - before; n > 2 {
		t.Errorf("1000 cached reads made %d GETs at Redis, want 1", n)
	}
}

// TestUnavailable: with Redis gone, every call fails with ErrUnavailable,
// cached reads included, and Ready says so; when Redis is back the store
// recovers by itself.
func TestUnavailable(t *testing.T) {
	r := bfftest.StartRedis(t)
	s := running(t, r)
	ctx := context.Background()
	s.Set(ctx, "k", "v", time.Minute)
	if v, err := s.GetCached(ctx, "k"); err != nil || v[0] != "v" {
		t.Fatal(v, err)
	}
	r.Stop()
	waitFor(t, "the store to notice", func() bool { return !s.Ready() })
	if v, err := s.GetCached(ctx, "k"); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("a cached read with Redis down: %q %v, want ErrUnavailable", v, err)
	}
	if err := s.Set(ctx, "k", "w", time.Minute); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("Set with Redis down: %v", err)
	}
	r.Start() // empty: it lost everything
	waitFor(t, "the store to recover", s.Ready)
	if v, err := s.GetCached(ctx, "k"); err != nil || v[0] != "" {
		t.Errorf("after a restart: %q %v, want the key gone", v, err)
	}
}

func TestTake(t *testing.T) {
	r := bfftest.RedisDB(t)
	a, b := running(t, r), running(t, r)
	ctx := context.Background()
	// 6 a minute with a burst of 5, across two replicas.
	var taken int
	for i := range 8 {
		s := []*redisstore.Store{a, b}[i%2]
		ok, wait, err := s.Take(ctx, "ip", rate.Limit(6.0/60), 5)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			taken++
		} else if wait <= 0 || wait > 10*time.Second {
			t.Errorf("refused with retry after %v, want (0, 10s]", wait)
		}
	}
	if taken != 5 {
		t.Errorf("two replicas took %d tokens of a burst of 5", taken)
	}
}

func TestNewRefusesBadURL(t *testing.T) {
	if _, err := redisstore.New("redis://u:pa ss@[::1", time.Second, nil); err == nil || strings.Contains(err.Error(), "pa ss") {
		t.Errorf("a bad URL: %v", err)
	}
}

// TestGarbage: a server that answers garbage is a Redis that cannot be
// reached, not a panic.
func TestGarbage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var accepted, commands atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := conn.Read(buf); err != nil {
						return
					}
					commands.Add(1)
					if _, err := conn.Write([]byte("?not redis\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	s := bfftest.RunStore(t, "redis://"+ln.Addr().String()+"/0")
	ctx := context.Background()
	time.Sleep(300 * time.Millisecond)
	// Run itself, before any call below, must have tried the server.
	if accepted.Load() == 0 || commands.Load() == 0 {
		t.Fatalf("the server accepted %d connections and read %d commands: Run never talked to it", accepted.Load(), commands.Load())
	}
	if s.Ready() {
		t.Error("ready with a server that answers garbage")
	}
	if _, err := s.GetCached(ctx, "k"); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("GetCached: %v, want ErrUnavailable", err)
	}
	if _, err := s.SetNX(ctx, "k", "v", time.Minute); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("SetNX: %v, want ErrUnavailable", err)
	}
}

// BenchmarkGetCached is the revocation check of one request: three keys
// that Redis has not invalidated, answered from the client-side cache.
func BenchmarkGetCached(b *testing.B) {
	s := running(b, bfftest.RedisDB(b))
	ctx := context.Background()
	keys := []string{"bff:end:a", "bff:end-sub:b", "bff:end-sid:c"}
	if _, err := s.GetCached(ctx, keys...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetCached(ctx, keys...); err != nil {
			b.Fatal(err)
		}
	}
}
