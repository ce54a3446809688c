package ratelimit

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// clock is a time source that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newLimiter(c *clock, r rate.Limit, burst, maxKeys int) *Limiter {
	return New(Config{Rate: r, Burst: burst, MaxKeys: maxKeys, Now: c.Now})
}

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("192.0.2.2")
	ipC = netip.MustParseAddr("192.0.2.3")
	ipD = netip.MustParseAddr("192.0.2.4")
	ipE = netip.MustParseAddr("192.0.2.5")
)

// addr returns a distinct IPv4 address for each i.
func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestBurstThenRefusal(t *testing.T) {
	tests := []struct {
		rate  rate.Limit
		burst int
	}{
		{1, 1},
		{1, 5},
		{0.1, 3},
		{100, 20},
	}
	for _, tt := range tests {
		l := newLimiter(newClock(), tt.rate, tt.burst, 0)
		for i := range tt.burst {
			if ok, retry := l.Allow(ipA); !ok || retry != 0 {
				t.Fatalf("rate %v burst %d: request %d = %v, %v; want allowed", tt.rate, tt.burst, i+1, ok, retry)
			}
		}
		for i := range 3 { // refused, and refusals take nothing
			if ok, retry := l.Allow(ipA); ok || retry < time.Second {
				t.Errorf("rate %v burst %d: request %d past the burst = %v, %v; want refused", tt.rate, tt.burst, i+1, ok, retry)
			}
		}
	}
}

func TestRefill(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 2, 4, 0) // a token every 500ms

	steps := []struct {
		advance time.Duration
		allowed int // how many of 10 requests at that moment succeed
	}{
		{0, 4},
		{499 * time.Millisecond, 0},
		{time.Millisecond, 1},
		{time.Second, 2},
		{250 * time.Millisecond, 0},
		{250 * time.Millisecond, 1},
		{time.Hour, 4}, // never more than the burst, however long the wait
	}
	for i, s := range steps {
		c.Advance(s.advance)
		got := 0
		for range 10 {
			if ok, _ := l.Allow(ipA); ok {
				got++
			}
		}
		if got != s.allowed {
			t.Errorf("step %d (after +%v): %d allowed, want %d", i, s.advance, got, s.allowed)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		rate  rate.Limit
		burst int
		wait  time.Duration // after emptying the bucket
		want  time.Duration
	}{
		{"one per second", 1, 1, 0, time.Second},
		{"fast rate rounds up to one second", 50, 5, 0, time.Second},
		{"one per ten seconds", rate.Every(10 * time.Second), 2, 0, 10 * time.Second},
		{"partly refilled", rate.Every(10 * time.Second), 2, 4500 * time.Millisecond, 6 * time.Second},
		{"almost refilled", rate.Every(10 * time.Second), 2, 9999 * time.Millisecond, time.Second},
		{"one per minute", rate.Every(time.Minute), 3, 0, time.Minute},
		{"one per three seconds, exact", rate.Every(3 * time.Second), 1, time.Second, 2 * time.Second},
		{"slower than representable", rate.Limit(1e-300), 1, 0, maxRetryAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			l := newLimiter(c, tt.rate, tt.burst, 0)
			for range tt.burst {
				if ok, _ := l.Allow(ipA); !ok {
					t.Fatal("refused within the burst")
				}
			}
			c.Advance(tt.wait)
			ok, retry := l.Allow(ipA)
			if ok {
				t.Fatal("allowed past the burst")
			}
			if retry != tt.want {
				t.Errorf("retryAfter = %v, want %v", retry, tt.want)
			}
			if retry%time.Second != 0 {
				t.Errorf("retryAfter = %v, not whole seconds", retry)
			}
			// Waiting exactly that long is enough, when it is not capped.
			if tt.want == maxRetryAfter {
				return
			}
			c.Advance(retry)
			if ok, _ := l.Allow(ipA); !ok {
				t.Errorf("refused after waiting the advertised %v", retry)
			}
		})
	}
}

func TestKeysIndependent(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"different IPv4", "192.0.2.1", "192.0.2.2", false},
		{"IPv4 and IPv6", "192.0.2.1", "2001:db8::1", false},
		{"same /64", "2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff", true},
		{"neighbouring /64", "2001:db8::1", "2001:db8:0:1::1", false},
		{"mapped is IPv4", "192.0.2.1", "::ffff:192.0.2.1", true},
		{"zone ignored", "fe80::1", "fe80::1%eth0", true},
		{"invalid is one key", "", "", true},
		{"invalid is not IPv4 zero", "", "0.0.0.0", false},
	}
	parse := func(s string) netip.Addr {
		if s == "" {
			return netip.Addr{}
		}
		return netip.MustParseAddr(s)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(newClock(), 1, 2, 0)
			a, b := parse(tt.a), parse(tt.b)
			l.Allow(a)
			l.Allow(a)
			if ok, _ := l.Allow(a); ok {
				t.Fatal("allowed past the burst")
			}
			ok, _ := l.Allow(b)
			if ok == tt.same {
				t.Errorf("after %s used its burst, %s allowed = %v; want shared bucket = %v", tt.a, tt.b, ok, tt.same)
			}
		})
	}
}

func TestEviction(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 1, 1, 3)

	for _, ip := range []netip.Addr{ipA, ipB, ipC} {
		if ok, _ := l.Allow(ip); !ok {
			t.Fatalf("%v refused on first request", ip)
		}
	}
	checkInvariants(t, l)
	if got := tracked(l); got != 3 {
		t.Fatalf("%d keys tracked, want 3", got)
	}

	// Full, and nothing has refilled: D cannot take anyone's place.
	if ok, _ := l.Allow(ipD); !ok {
		t.Fatal("D refused: the overflow bucket should have had a token")
	}
	if isTracked(l, ipD) {
		t.Fatal("D tracked although no bucket was idle")
	}

	// A refills and goes idle; B and C are used again and stay busy.
	c.Advance(time.Second)
	l.Allow(ipB)
	l.Allow(ipC)

	// Now D takes A's place, and only A's.
	if ok, _ := l.Allow(ipD); !ok {
		t.Fatal("D refused after A went idle")
	}
	checkInvariants(t, l)
	for ip, want := range map[netip.Addr]bool{ipA: false, ipB: true, ipC: true, ipD: true} {
		if got := isTracked(l, ip); got != want {
			t.Errorf("tracked(%v) = %v, want %v", ip, got, want)
		}
	}
	// B and C kept their empty buckets: eviction never refills anyone.
	for _, ip := range []netip.Addr{ipB, ipC, ipD} {
		if ok, _ := l.Allow(ip); ok {
			t.Errorf("%v allowed: its empty bucket was lost", ip)
		}
	}
}

// TestEvictionOrder checks which buckets eviction finds: those used longest
// ago are looked at first, so recently used ones are not mistaken for
// candidates, and an idle bucket is found even behind a busy one.
func TestEvictionOrder(t *testing.T) {
	t.Run("least recently used first", func(t *testing.T) {
		// More keys than one sweep looks at, so the order matters.
		const n = 2 * sweepScan
		c := newClock()
		l := newLimiter(c, 1, 1, n)
		for i := range n {
			l.Allow(addr(i))
		}
		c.Advance(time.Second) // all idle
		for i := range n - sweepScan {
			l.Allow(addr(i)) // the first ones inserted are busy again
		}
		if ok, _ := l.Allow(ipA); !ok || !isTracked(l, ipA) {
			t.Fatalf("new address allowed = %v, tracked = %v; want both: idle buckets were not found", ok, isTracked(l, ipA))
		}
		for i := range n - sweepScan {
			if !isTracked(l, addr(i)) {
				t.Errorf("busy %v evicted", addr(i))
			}
		}
		checkInvariants(t, l)
	})
	t.Run("idle behind busy", func(t *testing.T) {
		c := newClock()
		l := newLimiter(c, 1, 5, 2)
		for range 5 {
			l.Allow(ipA) // A empties its bucket first
		}
		l.Allow(ipB) // B, used after A, takes a single token
		c.Advance(time.Second)
		// A, the least recently used, has refilled only one token; B is
		// full again and is the one to go.
		if l.Allow(ipC); !isTracked(l, ipC) || isTracked(l, ipB) || !isTracked(l, ipA) {
			t.Errorf("tracked A, B, C = %v, %v, %v; want true, false, true",
				isTracked(l, ipA), isTracked(l, ipB), isTracked(l, ipC))
		}
		checkInvariants(t, l)
	})
}

// TestIdleSwept checks that idle buckets are forgotten as new addresses
// arrive even when the table is far from full, so that memory follows
// the addresses in recent use.
func TestIdleSwept(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 1, 2, 1000)
	for i := range 500 {
		l.Allow(addr(i))
		c.Advance(2 * time.Second) // each bucket is full again by the next
	}
	checkInvariants(t, l)
	if got := tracked(l); got > 1 {
		t.Errorf("%d keys tracked after 500 addresses each idle before the next, want 1", got)
	}
}

func TestOverflow(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 1, 2, 2)
	l.Allow(ipA)
	l.Allow(ipB)

	// C, D and E are not tracked and share one bucket of burst 2.
	want := []bool{true, true, false}
	for i, ip := range []netip.Addr{ipC, ipD, ipE} {
		ok, retry := l.Allow(ip)
		if ok != want[i] {
			t.Errorf("%v allowed = %v, want %v", ip, ok, want[i])
		}
		if !ok && retry != time.Second {
			t.Errorf("%v retryAfter = %v, want 1s", ip, retry)
		}
	}
	// The tracked addresses are unaffected by the flood.
	for _, ip := range []netip.Addr{ipA, ipB} {
		if ok, _ := l.Allow(ip); !ok {
			t.Errorf("tracked %v refused because of the overflow", ip)
		}
	}
	checkInvariants(t, l)
	if tracked(l) != 2 {
		t.Errorf("%d keys tracked, want 2", tracked(l))
	}

	// Once A and B are idle, new addresses take their places and get
	// buckets of their own: E is refused by its own empty bucket, not
	// admitted by the overflow bucket, which has refilled meanwhile.
	c.Advance(2 * time.Second)
	l.Allow(ipC)
	l.Allow(ipC)
	want = []bool{true, true, false}
	for i := range want {
		if ok, _ := l.Allow(ipE); ok != want[i] {
			t.Errorf("E request %d allowed = %v, want %v", i+1, ok, want[i])
		}
	}
	if !isTracked(l, ipC) || !isTracked(l, ipE) {
		t.Fatalf("C and E not tracked after A and B went idle")
	}
	checkInvariants(t, l)

	// The table is full of busy addresses again: D and A share the
	// overflow bucket's two tokens.
	want = []bool{true, true, false}
	for i, ip := range []netip.Addr{ipD, ipD, ipA} {
		if ok, _ := l.Allow(ip); ok != want[i] {
			t.Errorf("overflow request %d from %v allowed = %v, want %v", i+1, ip, ok, want[i])
		}
	}
}

// TestInvariantsRandom drives a small table through random traffic and
// time and checks after every step that it stays within MaxKeys and that
// the map and the recency list agree.
func TestInvariantsRandom(t *testing.T) {
	c := newClock()
	const maxKeys = 16
	l := newLimiter(c, 5, 3, maxKeys)
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		switch r.IntN(10) {
		case 0:
			c.Advance(time.Duration(r.IntN(1000)) * time.Millisecond)
		default:
			l.Allow(addr(r.IntN(40)))
		}
		checkInvariants(t, l)
		if t.Failed() {
			return
		}
	}
}

// TestAllocs checks that a known client costs no allocation, and that a
// stream of new clients reuses the buckets of idle ones instead of
// allocating a bucket each.
func TestAllocs(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 1000, 1, 64)
	i := 0
	tests := []struct {
		name string
		max  float64
		call func()
	}{
		{"known client", 0, func() { c.Advance(time.Second); l.Allow(ipA) }},
		{"new client each time", 0.5, func() { c.Advance(time.Second); i++; l.Allow(addr(i)) }},
	}
	for _, tt := range tests {
		tt.call()
		if got := testing.AllocsPerRun(1000, tt.call); got > tt.max {
			t.Errorf("%s: %v allocations per call, want at most %v", tt.name, got, tt.max)
		}
	}
}

func TestInf(t *testing.T) {
	l := New(Config{Rate: rate.Inf})
	for i := range 1000 {
		if ok, retry := l.Allow(addr(i % 3)); !ok || retry != 0 {
			t.Fatalf("rate.Inf refused request %d", i)
		}
	}
	if n := tracked(l); n != 0 {
		t.Errorf("rate.Inf tracked %d keys, want 0", n)
	}
}

func TestNewPanics(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"zero config", Config{}},
		{"zero rate", Config{Rate: 0, Burst: 5}},
		{"negative rate", Config{Rate: -1, Burst: 5}},
		{"zero burst", Config{Rate: 1, Burst: 0}},
		{"negative burst", Config{Rate: 1, Burst: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", tt.cfg)
				}
			}()
			New(tt.cfg)
		})
	}
}

func TestDefaults(t *testing.T) {
	l := New(Config{Rate: rate.Every(time.Hour), Burst: 1})
	if l.maxKeys != DefaultMaxKeys {
		t.Errorf("maxKeys = %d, want %d", l.maxKeys, DefaultMaxKeys)
	}
	// With the real clock, a second request right away is refused (unless
	// the test stalls for an hour between the two).
	if ok, _ := l.Allow(ipA); !ok {
		t.Error("first request refused")
	}
	if ok, _ := l.Allow(ipA); ok {
		t.Error("second request right after the first allowed")
	}
}

func TestMiddleware(t *testing.T) {
	c := newClock()
	l := newLimiter(c, rate.Every(10*time.Second), 2, 0)
	var calls int
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusNoContent)
	})
	key := func(r *http.Request) netip.Addr {
		return netip.MustParseAddrPort(r.RemoteAddr).Addr()
	}
	h := l.Middleware(key, next)

	serve := func(remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/auth/login", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	for i := range 2 {
		if rec := serve("192.0.2.1:1000"); rec.Code != http.StatusNoContent {
			t.Fatalf("request %d: status %d, want 204", i+1, rec.Code)
		}
	}
	c.Advance(3 * time.Second)
	rec := serve("192.0.2.1:1001")
	if calls != 2 {
		t.Errorf("next called %d times, want 2: the refused request reached it", calls)
	}
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After = %q, want \"7\"", got)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", got)
	}
	var body struct {
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if body.Status != http.StatusTooManyRequests || body.Title != "Too Many Requests" || !strings.Contains(body.Detail, "Retry-After") {
		t.Errorf("body = %+v", body)
	}

	// Another client is not affected.
	if rec := serve("192.0.2.2:1000"); rec.Code != http.StatusNoContent || rec.Header().Get("Retry-After") != "" {
		t.Errorf("other client: status %d, Retry-After %q; want 204 and none", rec.Code, rec.Header().Get("Retry-After"))
	}
	if calls != 3 {
		t.Errorf("next called %d times, want 3", calls)
	}
}

// TestConcurrent runs many goroutines against one Limiter with the clock
// standing still, so exactly Burst requests per key must succeed however
// they interleave. Run with -race.
func TestConcurrent(t *testing.T) {
	const (
		keys    = 16
		burst   = 10
		workers = 8
		perWork = 500
	)
	l := newLimiter(newClock(), 1, burst, keys)
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWork {
				k := (w + i) % keys
				if ok, _ := l.Allow(addr(k)); ok {
					allowed[k].Add(1)
				}
			}
		})
	}
	wg.Wait()
	for k := range keys {
		if got := allowed[k].Load(); got != burst {
			t.Errorf("key %d: %d allowed, want exactly %d", k, got, burst)
		}
	}
	checkInvariants(t, l)
}

// TestConcurrentChurn has goroutines bring in more addresses than the
// table holds while time moves, exercising eviction and the overflow
// bucket under the race detector.
func TestConcurrentChurn(t *testing.T) {
	c := newClock()
	l := newLimiter(c, 100, 2, 32)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				l.Allow(addr(w*1000 + i%200))
				if i%50 == 0 {
					c.Advance(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Go(func() {
		h := l.Middleware(func(*http.Request) netip.Addr { return ipA }, http.NotFoundHandler())
		for range 500 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		}
	})
	wg.Wait()
	checkInvariants(t, l)
}

func BenchmarkAllow(b *testing.B) {
	// Enough time passes between calls that the key is never refused, so
	// this measures the common path: a known client within its limit.
	var now time.Time
	l := New(Config{Rate: 1000, Burst: 10, Now: func() time.Time { now = now.Add(time.Millisecond); return now }})
	for i := range 1000 {
		l.Allow(addr(i))
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := l.Allow(ipA); !ok {
			b.Fatal("refused")
		}
	}
}

// tracked is the number of keys with their own bucket.
func tracked(l *Limiter) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// isTracked reports whether a's requests are counted in a bucket of their own.
func isTracked(l *Limiter, a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.keys[bucketKey(a)]
	return ok
}

// checkInvariants verifies that the recency list and the map hold the same
// buckets, linked consistently, and no more than MaxKeys of them.
func checkInvariants(t *testing.T, l *Limiter) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for b := l.lru.next; b != &l.lru; b = b.next {
		if b.next.prev != b {
			t.Fatalf("list broken after %v", b.key)
		}
		if l.keys[b.key] != b {
			t.Fatalf("listed bucket %v is not the map's", b.key)
		}
		if n++; n > len(l.keys) {
			t.Fatalf("list longer than the map (%d keys)", len(l.keys))
		}
	}
	if n != len(l.keys) {
		t.Fatalf("list has %d buckets, map %d", n, len(l.keys))
	}
	if n > l.maxKeys {
		t.Fatalf("%d keys tracked, more than MaxKeys %d", n, l.maxKeys)
	}
}
