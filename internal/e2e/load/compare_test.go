// Load measurements. They are skipped unless -load is given, because each
// takes tens of seconds and both cores:
//
//	GOTOOLCHAIN=go1.27.3 go test -run '^TestLoadCompare$' -load -count=1 -v .
//	GOTOOLCHAIN=go1.27.3 go test -run '^TestLoadReplicas$' -load -count=1 -v .
//
// TestLoadCompare takes -load.duration (per target and round, default 5s)
// and -load.minratio (fail when bff's req/s falls below that fraction of
// the bare proxy's; by default the ratio is only reported, because the
// machines these run on are shared and noisy).
//
// Every server in TestLoadCompare runs under a pprof label naming it, so one
// CPU profile of the whole run can be cut down to bff's own work:
//
//	GOTOOLCHAIN=go1.27.3 go test -run '^TestLoadCompare$' -load -count=1 -v \
//	    -o /tmp/bff-load.test -cpuprofile /tmp/bff-load.cpu .
//	GOTOOLCHAIN=go1.27.3 go tool pprof -top -tagfocus=target=bff /tmp/bff-load.test /tmp/bff-load.cpu
//
// (-o keeps the test binary, which -cpuprofile would otherwise leave in the
// repository.) Client, upstream and servers share one process and the same
// cores, so absolute numbers say little about a real deployment; the ratios
// between targets measured in the same run are what to look at.
package load

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/server"
	"bff/proxy"
)

var (
	loadFlag     = flag.Bool("load", false, "run the load measurements TestLoadCompare and TestLoadReplicas")
	loadDuration = flag.Duration("load.duration", 5*time.Second, "TestLoadCompare: measured time per target and round, after a 1 s warm-up")
	loadMinRatio = flag.Float64("load.minratio", 0, "TestLoadCompare: fail when bff's req/s is below this fraction of the bare proxy's (0: report only)")
)

func needLoad(t *testing.T) {
	t.Helper()
	if !*loadFlag {
		t.Skip("load measurement: run with -load")
	}
}

// smallBody is the upstream's whole answer: 64 bytes of JSON, so the
// comparison measures per-request cost, not bandwidth.
var smallBody = []byte(`{"id":42,"status":"ok","items":[1,2,3],"note":"small response"}` + "\n")

// loadRun is what one bounded burst of requests produced.
type loadRun struct {
	requests int
	errs     int    // transport errors and wrong bodies
	byClass  [6]int // by status / 100; [0] holds anything outside 100..599
	lat      latHistogram
	elapsed  time.Duration
	firstErr string
}

// latHistogram counts latencies in buckets 1/32 of a power of two wide, so a
// value read back is within about 1.6% of the true one. Unlike a slice of
// samples, it does not grow the heap as a run goes on: a heap that grows
// from round to round makes the garbage collector run less often, and
// later rounds look faster than earlier ones.
type latHistogram struct {
	counts [2048]int64
	n      int64
}

func histBucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < 32 {
		return int(v)
	}
	e := bits.Len64(v) - 6 // v>>e is in [32, 64)
	return (e+1)*32 + int(v>>e) - 32
}

// histValue is the middle of bucket i.
func histValue(i int) time.Duration {
	if i < 32 {
		return time.Duration(i)
	}
	e, m := i/32-1, uint64(i%32+32)
	return time.Duration(m<<e + (uint64(1)<<e)/2)
}

func (h *latHistogram) add(d time.Duration) {
	h.counts[histBucket(d)]++
	h.n++
}

func (h *latHistogram) merge(o *latHistogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile is the nearest-rank quantile.
func (h *latHistogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(h.n))), 1)
	var seen int64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return histValue(i)
		}
	}
	return histValue(len(h.counts) - 1)
}

func (r *loadRun) merge(o *loadRun) {
	r.requests += o.requests
	r.errs += o.errs
	for i := range r.byClass {
		r.byClass[i] += o.byClass[i]
	}
	r.lat.merge(&o.lat)
	r.elapsed += o.elapsed
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
}

func (r *loadRun) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r *loadRun) non2xx() int { return r.requests - r.errs - r.byClass[2] }

func (r *loadRun) quantile(q float64) time.Duration { return r.lat.quantile(q) }

// TestLoadHistogram checks the measuring tool itself; it needs no -load.
func TestLoadHistogram(t *testing.T) {
	var h latHistogram
	if h.quantile(0.5) != 0 {
		t.Error("an empty latHistogram has a median")
	}
	// 1 µs, 2 µs, ... 10 ms: the true p50 is 5 ms and the p99 9.9 ms.
	for i := 1; i <= 10_000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5 * time.Millisecond}, {0.99, 9900 * time.Microsecond}, {1, 10 * time.Millisecond}, {0.0001, time.Microsecond}} {
		got := h.quantile(c.q)
		if math.Abs(float64(got-c.want))/float64(c.want) > 0.02 {
			t.Errorf("quantile(%v) = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
	for _, d := range []time.Duration{0, 31, 32, 63, 64, 1000, time.Second, time.Hour} {
		if got := histValue(histBucket(d)); math.Abs(float64(got-d)) > float64(d)/60+1 {
			t.Errorf("%v reads back as %v", d, got)
		}
	}
}

// hammer runs workers goroutines that each send requests back to back, so
// each keeps one keep-alive connection busy, until limit requests have
// started or dur has passed. send returns the response status.
func hammer(workers, limit int, dur time.Duration, send func(worker int) (int, error)) *loadRun {
	var (
		started atomic.Int64
		mu      sync.Mutex
		total   loadRun
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(dur)
	for w := range workers {
		wg.Go(func() {
			// The label keeps the load generator apart from the servers in
			// a CPU profile of the whole test.
			pprof.Do(context.Background(), pprof.Labels("target", "client"), func(context.Context) {
				local := new(loadRun)
				for started.Add(1) <= int64(limit) && time.Now().Before(deadline) {
					t0 := time.Now()
					code, err := send(w)
					local.lat.add(time.Since(t0))
					local.requests++
					switch {
					case err != nil:
						local.errs++
						if local.firstErr == "" {
							local.firstErr = err.Error()
						}
					case code >= 100 && code <= 599:
						local.byClass[code/100]++
					default:
						local.byClass[0]++
					}
				}
				mu.Lock()
				total.merge(local)
				mu.Unlock()
			})
		})
	}
	wg.Wait()
	total.elapsed = time.Since(start)
	return &total
}

// fetchDrained sends req, reads the whole body and checks its length when want
// is not negative.
func fetchDrained(c *http.Client, req *http.Request, want int64) (*http.Response, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if want >= 0 && resp.StatusCode/100 == 2 && n != want {
		return nil, fmt.Errorf("%s: %d-byte body, want %d", req.URL.Path, n, want)
	}
	return resp, nil
}

// connCount counts a server's connections: a pool that churns shows as
// connections closed while the load runs, one that grows only as opened.
type connCount struct{ opened, closed atomic.Int64 }

// startLabelled starts srv with its goroutines, and every goroutine they
// start (connections, and the upstream connections a proxy dials), under
// the pprof label target=name, and counts its connections.
func startLabelled(t *testing.T, srv *httptest.Server, name string) *connCount {
	t.Helper()
	var c connCount
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			c.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			c.closed.Add(1)
		}
	}
	pprof.Do(context.Background(), pprof.Labels("target", name), func(context.Context) { srv.Start() })
	t.Cleanup(srv.Close)
	return &c
}

// countingListener counts the connections it accepts and their closing,
// for a server that is not an httptest.Server.
type countingListener struct {
	net.Listener
	count connCount
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.count.opened.Add(1)
	return &countedConn{Conn: c, closed: &l.count.closed}, nil
}

type countedConn struct {
	net.Conn
	once   sync.Once
	closed *atomic.Int64
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.closed.Add(1) })
	return c.Conn.Close()
}

// loadClient is a load generator's client: no cookie jar, no redirects,
// and an idle pool that keeps every worker's connection alive.
func loadClient(t *testing.T, workers int) *http.Client {
	tr := &http.Transport{MaxIdleConns: 4 * workers, MaxIdleConnsPerHost: 2 * workers, IdleConnTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// logIn signs browser c in at bff's public origin through the OP's form.
func logIn(t *testing.T, c *http.Client, op *bfftest.OP, origin string) {
	t.Helper()
	get := func(u string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := fetchDrained(c, req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	start := get(origin + "/auth/login?returnTo=/")
	if start.StatusCode != http.StatusFound {
		t.Fatalf("login: %d", start.StatusCode)
	}
	cb := op.Login(t, c, start.Header.Get("Location"))
	if done := get(cb.String()); done.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d", done.StatusCode)
	}
}

// sessionHeader is the Cookie header a browser sends bff, kept up to date
// from Set-Cookie the way a browser's cookie store would be, but without a
// cookie jar's per-request cost on the load generator.
type sessionHeader struct {
	mu      sync.Mutex
	vals    map[string]string
	header  atomic.Pointer[string]
	updates atomic.Int64
}

func newSessionHeader(cs []*http.Cookie) *sessionHeader {
	h := &sessionHeader{vals: map[string]string{}}
	for _, c := range cs {
		h.vals[c.Name] = c.Value
	}
	h.rebuild()
	return h
}

func (h *sessionHeader) get() string { return *h.header.Load() }

func (h *sessionHeader) update(resp *http.Response) {
	if len(resp.Header["Set-Cookie"]) == 0 {
		return
	}
	h.updates.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			delete(h.vals, c.Name)
		} else {
			h.vals[c.Name] = c.Value
		}
	}
	h.rebuild()
}

// rebuild must be called with h.mu held, or before h is shared.
func (h *sessionHeader) rebuild() {
	names := make([]string, 0, len(h.vals))
	for n := range h.vals {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(n + "=" + h.vals[n])
	}
	s := b.String()
	h.header.Store(&s)
}

// compareRig is the three targets of TestLoadCompare in one process: a
// small fixed upstream, a bare ReverseProxy in front of it, and one bff
// replica routing /api/ to it, with a browser session from a real login.
type compareRig struct {
	upstream, bare   *httptest.Server
	bff              string                // bff's origin
	conns            map[string]*connCount // by server
	upHits, upBearer atomic.Int64          // requests the upstream saw, and those with a bearer token
	upLeaks          atomic.Int64          // bearer requests that still carried bff's session cookie
	session          *sessionHeader
	bffLogs          *levelCounter
}

// levelCounter is bff's log output under load: it counts warnings and
// errors and drops every line, so that the measurement pays for formatting
// the access log, as in production, but not for keeping it.
type levelCounter struct{ warnings, lines atomic.Int64 }

func (c *levelCounter) Write(p []byte) (int, error) {
	c.lines.Add(1)
	if bytes.Contains(p, []byte(`"level":"WARN"`)) || bytes.Contains(p, []byte(`"level":"ERROR"`)) {
		c.warnings.Add(1)
	}
	return len(p), nil
}

func newCompareRig(t *testing.T) *compareRig {
	t.Helper()
	rig := &compareRig{conns: map[string]*connCount{}, bffLogs: &levelCounter{}}

	rig.upstream = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rig.upHits.Add(1)
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			rig.upBearer.Add(1)
			if strings.Contains(r.Header.Get("Cookie"), "__Host-bff-") {
				rig.upLeaks.Add(1)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(smallBody)
	}))
	rig.conns["upstream"] = startLabelled(t, rig.upstream, "upstream")
	upURL, _ := url.Parse(rig.upstream.URL)

	// The best a bare ReverseProxy can do: the same transport bff uses
	// (MaxIdleConnsPerHost 256) and pooled copy buffers.
	bareTransport := proxy.NewTransport()
	t.Cleanup(bareTransport.CloseIdleConnections)
	rig.bare = httptest.NewUnstartedServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upURL)
			pr.SetXForwarded()
		},
		Transport:  bareTransport,
		BufferPool: &loadBuffers{},
	})
	rig.conns["bare"] = startLabelled(t, rig.bare, "bare")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rig.bff = "http://" + ln.Addr().String()
	public := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	op := bfftest.StartOP(t, public, bfftest.OPOptions{AccessTTL: time.Hour}) // no refresh during the run
	env := bfftest.Env(op, public, bfftest.NewKey(t))
	env["BFF_ROUTES"] = "/api/=" + rig.upstream.URL + "/v1"
	// Info, as in production, so the access log's cost is measured.
	log := slog.New(slog.NewJSONHandler(rig.bffLogs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := server.New(bfftest.Load(t, env), log, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingListener{Listener: ln}
	rig.conns["bff"] = &counted.count
	pprof.Do(context.Background(), pprof.Labels("target", "bff"), func(context.Context) { bfftest.ServeOn(t, srv, counted) })
	if err := bfftest.WaitReady(ln.Addr().String(), 5*time.Second); err != nil {
		t.Fatal(err)
	}

	browser, jar := bfftest.NewClient(t)
	t.Cleanup(browser.CloseIdleConnections)
	logIn(t, browser, op, rig.bff)
	rig.session = newSessionHeader(jar.Cookies(public))
	return rig
}

// loadBuffers pools ReverseProxy's copy buffers, as bff's proxy does.
type loadBuffers struct{ pool sync.Pool }

func (b *loadBuffers) Get() []byte {
	if buf, ok := b.pool.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *loadBuffers) Put(buf []byte) { b.pool.Put(&buf) }

// compareTarget is one column of the comparison.
type compareTarget struct {
	name   string
	url    string
	client *http.Client
	sent   atomic.Int64
	rounds []*loadRun
}

func (c *compareTarget) total() *loadRun {
	var all loadRun
	for _, r := range c.rounds {
		all.merge(r)
	}
	return &all
}

// TestLoadCompare measures requests per second and latency at 64
// concurrent keep-alive connections for the upstream itself, a bare
// httputil.ReverseProxy, and bff, in one process and run. The upstream is
// measured once, then the two proxies four rounds each in ABBA ABBA order
// (bare, bff, bff, bare, bare, bff, bff, bare), so that a drift in the
// machine's speed during the run (other work on the shared cores) affects
// both alike. Each round is a 1 s warm-up and -load.duration of
// measurement; a target's rounds are pooled.
func TestLoadCompare(t *testing.T) {
	needLoad(t)
	const workers = 64
	rig := newCompareRig(t)

	targets := map[string]*compareTarget{
		"direct": {name: "direct", url: rig.upstream.URL + "/items"},
		"bare":   {name: "bare", url: rig.bare.URL + "/items"},
		"bff":    {name: "bff", url: rig.bff + "/api/items"},
	}
	for _, tg := range targets {
		tg.client = loadClient(t, workers)
	}
	// Every target gets the same request: the session cookie and X-CSRF,
	// which only bff reads. Workers reuse their request, one at a time.
	send := func(tg *compareTarget) func(int) (int, error) {
		reqs := make([]*http.Request, workers)
		for i := range reqs {
			req, err := http.NewRequest(http.MethodGet, tg.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-CSRF", "1")
			reqs[i] = req
		}
		return func(w int) (int, error) {
			req := reqs[w]
			req.Header["Cookie"] = []string{rig.session.get()}
			tg.sent.Add(1)
			resp, err := fetchDrained(tg.client, req, int64(len(smallBody)))
			if err != nil {
				return 0, err
			}
			if tg.name == "bff" {
				rig.session.update(resp)
			}
			return resp.StatusCode, nil
		}
	}
	senders := map[string]func(int) (int, error){}
	for name, tg := range targets {
		senders[name] = send(tg)
		if code, err := senders[name](0); err != nil || code != http.StatusOK {
			t.Fatalf("%s: first request: %d %v", name, code, err)
		}
	}
	t.Logf("session Cookie header: %d bytes", len(rig.session.get()))

	for _, name := range []string{"direct", "bare", "bff", "bff", "bare", "bare", "bff", "bff", "bare"} {
		tg := targets[name]
		warm := hammer(workers, math.MaxInt, time.Second, senders[name])
		if warm.errs > 0 || warm.non2xx() > 0 {
			t.Fatalf("%s warm-up: %d errors (first: %s), %d non-2xx", name, warm.errs, warm.firstErr, warm.non2xx())
		}
		tc, uc := rig.conns[serverOf(name)], rig.conns["upstream"]
		before := [4]int64{tc.opened.Load(), tc.closed.Load(), uc.opened.Load(), uc.closed.Load()}
		run := hammer(workers, math.MaxInt, *loadDuration, senders[name])
		tg.rounds = append(tg.rounds, run)
		t.Logf("round %-6s %8d req  %8.0f req/s  p50 %-9v p99 %-9v errors %d non-2xx %d  conns opened/closed: target %d/%d, upstream %d/%d",
			name, run.requests, run.rps(), roundLat(run.quantile(0.5)), roundLat(run.quantile(0.99)), run.errs, run.non2xx(),
			tc.opened.Load()-before[0], tc.closed.Load()-before[1], uc.opened.Load()-before[2], uc.closed.Load()-before[3])
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d concurrent keep-alive connections, %d-byte responses, %v per round, 1 s warm-up each\n", workers, len(smallBody), *loadDuration)
	fmt.Fprintf(&sb, "%-7s %6s %9s %9s %10s %10s %7s %8s %22s\n", "target", "rounds", "requests", "req/s", "p50", "p99", "errors", "non-2xx", "sent incl. warm-ups")
	totals := map[string]*loadRun{}
	for _, name := range []string{"direct", "bare", "bff"} {
		all := targets[name].total()
		totals[name] = all
		fmt.Fprintf(&sb, "%-7s %6d %9d %9.0f %10v %10v %7d %8d %22d\n", name, len(targets[name].rounds), all.requests, all.rps(),
			roundLat(all.quantile(0.5)), roundLat(all.quantile(0.99)), all.errs, all.non2xx(), targets[name].sent.Load())
	}
	bare, bff := totals["bare"], totals["bff"]
	ratio := bff.rps() / bare.rps()
	fmt.Fprintf(&sb, "bff/bare req/s %.3f (target >= 0.85: %s); p50 ratio %.2f; p99 ratio %.2f; bare/direct req/s %.3f\n",
		ratio, metVerdict(ratio >= 0.85), latRatio(bff.quantile(0.5), bare.quantile(0.5)), latRatio(bff.quantile(0.99), bare.quantile(0.99)),
		bare.rps()/totals["direct"].rps())
	fmt.Fprintf(&sb, "bff responses that reset the session cookie: %d; bff log lines: %d", rig.session.updates.Load(), rig.bffLogs.lines.Load())
	t.Log(sb.String())

	if ratio < *loadMinRatio {
		t.Errorf("bff/bare req/s %.3f is below -load.minratio %.2f", ratio, *loadMinRatio)
	}
	for name, all := range totals {
		if all.errs > 0 || all.non2xx() > 0 {
			t.Errorf("%s: %d errors (first: %s), %d non-2xx (by class %v)", name, all.errs, all.firstErr, all.non2xx(), all.byClass)
		}
	}
	// Each bff request must have reached the upstream with a token and
	// without the session cookie; otherwise bff was not doing its job and
	// its speed means nothing.
	if got, want := rig.upBearer.Load(), targets["bff"].sent.Load(); got != want {
		t.Errorf("upstream saw %d requests with a bearer token, bff was sent %d", got, want)
	}
	var sent int64
	for _, tg := range targets {
		sent += tg.sent.Load()
	}
	if got := rig.upHits.Load(); got != sent {
		t.Errorf("upstream saw %d requests, the targets were sent %d", got, sent)
	}
	if n := rig.upLeaks.Load(); n > 0 {
		t.Errorf("%d upstream requests carried bff's session cookie", n)
	}
	if n := rig.bffLogs.warnings.Load(); n > 0 {
		t.Errorf("bff logged %d warnings or errors under load", n)
	}
}

func serverOf(target string) string {
	if target == "direct" {
		return "upstream"
	}
	return target
}

func roundLat(d time.Duration) time.Duration {
	if d > time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func latRatio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func metVerdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
