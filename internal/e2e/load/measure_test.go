package load

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
