package load

// The soak runs only with -load (see load_test.go):
//
//	GOTOOLCHAIN=go1.27.3 go test -run '^TestLoadReplicas$' -load -count=1 -v .

import (
	"bff/internal/bfftest"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadReplicas is the soak: many sessions hammer two replicas through a
// round-robin front while every access token keeps expiring, so each
// session is refreshed again and again, often by both replicas at once.
// Nothing may fail: no transport error, no 5xx, and no 4xx either, since
// every session stays valid.
func TestLoadReplicas(t *testing.T) {
	needLoad(t)
	const (
		sessions = 16
		workers  = 256 // 16 per session, sharing that session's cookie jar like a browser's tabs
		want     = 20_000
		// limit is enough requests for several clock jumps even on an idle
		// machine (about 5,000 req/s); timeLimit ends a run on a busy one.
		limit     = 60_000
		timeLimit = 90 * time.Second
		// accessTTL is longer than bff's 30 s refresh margin, so a fresh
		// token is used as is until the clock jumps past its expiry.
		accessTTL = 45 * time.Second
		jump      = accessTTL + 5*time.Second
		tick      = 1500 * time.Millisecond
		// The OP stamps real time into its ID tokens (valid 1 h) and bff
		// checks a refreshed one by the moved clock: stay well inside that.
		maxJumps = 50
		// Racing replicas redeem the same refresh token; real IdPs allow a
		// short reuse interval for exactly that.
		reuse = 30 * time.Second
	)
	s := bfftest.NewStack(t, bfftest.StackOptions{Replicas: 2, OP: bfftest.OPOptions{AccessTTL: accessTTL, Reuse: reuse}})

	browsers := make([]*http.Client, sessions)
	for i := range browsers {
		c, _ := bfftest.NewClient(t)
		t.Cleanup(c.CloseIdleConnections)
		bfftest.LogIn(t, c, s.OP, s.Front.URL)
		browsers[i] = c
	}
	before := s.OP.Counts()
	s.Upstream.Drain()

	// The clock jumps while the load runs; the upstream's record of what it
	// received is sampled at each jump, to check the tokens that reach it.
	var (
		jumps    atomic.Int64
		mu       sync.Mutex
		bearers  = map[string]bool{}
		noBearer int
		done     = make(chan struct{})
		stopped  = make(chan struct{})
	)
	sample := func() {
		mu.Lock()
		defer mu.Unlock()
		for saw, ok := s.Upstream.Take(); ok; saw, ok = s.Upstream.Take() {
			if tok, ok := strings.CutPrefix(saw.Authorization, "Bearer "); ok && tok != "" {
				bearers[tok] = true
			} else {
				noBearer++
			}
		}
	}
	go func() {
		defer close(stopped)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				sample()
				if jumps.Load() < maxJumps {
					s.Clock.Advance(jump)
					jumps.Add(1)
				}
			}
		}
	}()
	stop := sync.OnceFunc(func() { close(done); <-stopped })
	t.Cleanup(stop)

	opURL, err := url.Parse(s.OP.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	_, waitBefore, tcpOK := tcpConnsTo(opURL.Port())
	// Responses that reset the cookie are the ones that refreshed (or
	// reused a replica's recent refresh); their latency is kept apart.
	resealed := make([]latHistogram, workers)
	run := hammer(workers, limit, timeLimit, func(w int) (int, error) {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/api/soak/%d", s.Front.URL, w), nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("X-CSRF", "1")
		t0 := time.Now()
		resp, err := fetchDrained(browsers[w%sessions], req, -1)
		if err != nil {
			return 0, err
		}
		if len(resp.Header["Set-Cookie"]) > 0 {
			resealed[w].add(time.Since(t0))
		}
		return resp.StatusCode, nil
	})
	stop()
	sample()
	var refreshing latHistogram
	for i := range resealed {
		refreshing.merge(&resealed[i])
	}
	opConns := "not available"
	if est, wait, ok := tcpConnsTo(opURL.Port()); ok && tcpOK {
		opConns = fmt.Sprintf("%d closed (TIME_WAIT) during the run, %d open at the end", wait-waitBefore, est)
	}

	after := s.OP.Counts()
	grants, refused := after.RefreshGrants-before.RefreshGrants, after.RefreshRefused-before.RefreshRefused
	n := int(jumps.Load())
	t.Logf("\n%d sessions, %d concurrent connections, 2 replicas behind a round-robin front; clock +%v every %v (%d jumps), OP refresh-token reuse interval %v\n"+
		"requests %d in %v: %.0f req/s, p50 %v, p99 %v\n"+
		"transport errors %d, 2xx %d, 4xx %d, 5xx %d, other %d\n"+
		"responses that reset the session cookie %d: p50 %v, p99 %v\n"+
		"OP refresh grants %d (%.2f per session per jump), refused %d; distinct access tokens seen upstream (sampled) %d\n"+
		"bff-to-OP connections: %s",
		sessions, workers, jump, tick, n, reuse,
		run.requests, run.elapsed.Round(time.Millisecond), run.rps(), roundLat(run.quantile(0.5)), roundLat(run.quantile(0.99)),
		run.errs, run.byClass[2], run.byClass[4], run.byClass[5], run.byClass[0]+run.byClass[1]+run.byClass[3],
		refreshing.n, roundLat(refreshing.quantile(0.5)), roundLat(refreshing.quantile(0.99)),
		grants, float64(grants)/float64(sessions*max(n, 1)), refused, len(bearers), opConns)

	if run.errs > 0 {
		t.Errorf("%d transport errors; first: %s", run.errs, run.firstErr)
	}
	if run.byClass[5] > 0 {
		t.Errorf("%d responses were 5xx", run.byClass[5])
	}
	// Every session stays valid throughout: a 4xx means one was lost, for
	// instance to a refresh the OP refused.
	if run.byClass[4] > 0 || refused > 0 {
		t.Errorf("%d responses were 4xx, %d refreshes refused", run.byClass[4], refused)
	}
	if run.requests < want {
		t.Errorf("only %d requests before the %v limit; want at least %d", run.requests, timeLimit, want)
	}
	if n < 3 {
		t.Errorf("the clock jumped %d times during the run; the soak did not exercise refresh", n)
	}
	// After every jump but the last, every session made requests for a
	// whole tick, so each was refreshed at least once per jump.
	if floor := sessions * (n - 1); grants < floor {
		t.Errorf("OP granted %d refreshes for %d jumps; every session should have been refreshed after each (>= %d)", grants, n, floor)
	}
	issued := s.OP.IssuedTokens()
	mu.Lock()
	defer mu.Unlock()
	if noBearer > 0 {
		t.Errorf("%d sampled upstream requests carried no bearer token", noBearer)
	}
	for tok := range bearers {
		if !slices.Contains(issued, tok) {
			t.Error("the upstream got a bearer token the OP never issued")
			break
		}
	}
	// Refreshed tokens, not just the login's, must have reached the upstream.
	if len(bearers) <= sessions {
		t.Errorf("the upstream saw only %d distinct access tokens from %d sessions", len(bearers), sessions)
	}
}

// tcpConnsTo counts this machine's loopback TCP connections whose remote
// port is port (decimal): those established, and those closed by this side
// and waiting out TIME_WAIT, which is where connections a client pool
// dropped end up. ok is false where /proc/net/tcp cannot be read.
func tcpConnsTo(port string) (established, timeWait int, ok bool) {
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, 0, false
	}
	want := fmt.Sprintf(":%04X", p)
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		ok = true
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 4 || !strings.HasSuffix(f[2], want) {
				continue
			}
			switch f[3] {
			case "01":
				established++
			case "06":
				timeWait++
			}
		}
	}
	return established, timeWait, ok
}
