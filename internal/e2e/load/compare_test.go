// Load measurements. They are skipped unless -load is given, because each
// takes a minute or more and both cores:
//
//	GOTOOLCHAIN=go1.27.3 go test -run '^TestLoadCompare$' -load -count=1 -v .
//	GOTOOLCHAIN=go1.27.3 go test -run '^TestLoadReplicas$' -load -count=1 -v .
//
// TestLoadCompare measures what an operator runs: the bff binary, built as
// the Dockerfile builds it, in a process of its own with its configuration
// from the environment, writing its log to a pipe that this test reads as
// a container runtime would. The bare httputil.ReverseProxy it is compared
// with is a process of its own too. Where taskset and two CPUs exist, the
// server under test is pinned to CPU 1 and everything else (this process:
// the load generator, the upstream, the OP, the log reader) to CPU 0, so a
// server's speed is not what it wins from its neighbours.
//
// Flags: -load.duration (per target and round, default 5s), -load.rounds
// (default 3; the report gives each round and the median), -load.minratio
// (fail when bff's req/s falls below that fraction of the bare proxy's; by
// default only reported, because shared machines are noisy), -load.bin (a
// bff binary to measure instead of this tree's, for before/after
// comparisons), -load.cpuprofile (a CPU profile of the bff target, and of
// the bare proxy in the same name with .bare added; bff must be built with
// -tags bffprofile, as this tree's is), -load.traced
// (also bff with tracing on, exporting to a receiver in this process),
// -load.redis (also bff with BFF_REDIS_URL, against a redis-server the
// test starts; the report gives its ratio to bff without Redis),
// -load.others=NAME=PATH,... (other bff binaries beside it, such as the
// last release's, measured in the same rounds) and -load.pin=false. A
// profile reads with:
//
//	GOTOOLCHAIN=go1.27.3 go tool pprof -top /tmp/bff.cpu
package load

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
)

var (
	loadRounds  = flag.Int("load.rounds", 3, "TestLoadCompare: rounds per target; the report gives the median")
	loadBin     = flag.String("load.bin", "", "TestLoadCompare: the bff binary to measure; default this tree's, built with -tags bffprofile")
	loadProfile = flag.String("load.cpuprofile", "", "TestLoadCompare: write a CPU profile of the bff target to this file")
	loadTraced  = flag.Bool("load.traced", false, "TestLoadCompare: also measure bff with tracing on")
	loadPin     = flag.Bool("load.pin", true, "TestLoadCompare: pin the server under test to CPU 1 and the rest to CPU 0")
	loadOthers  = flag.String("load.others", "", "TestLoadCompare: comma-separated NAME=PATH of other bff binaries to measure beside it, with their defaults")
	loadRedis   = flag.Bool("load.redis", false, "TestLoadCompare: also measure bff with BFF_REDIS_URL, against a redis-server this test starts")
)

// compareTarget is one column of the comparison.
type compareTarget struct {
	name   string
	url    string
	proc   *bfftest.Process // nil for the upstream itself
	logs   *logPipe         // bff's standard output
	bff    bool             // requests must reach the upstream with a token
	client *http.Client
	sent   atomic.Int64
	rounds []*loadRun
	cpu    []time.Duration // the server's CPU time in each measured round
}

// compareRig is the targets of TestLoadCompare: the upstream (in this
// process), a bare ReverseProxy in front of it, and bff in its default
// configuration and with logging quietened, each a process of its own,
// with a browser session from a real login.
type compareRig struct {
	upstream         *httptest.Server
	upConns          *connCount
	upHits, upBearer atomic.Int64 // requests the upstream saw, and those with a bearer token
	upLeaks          atomic.Int64 // bearer requests that still carried bff's session cookie
	session          *sessionHeader
	targets          []*compareTarget
	spans            atomic.Int64 // bytes of spans the bff-traced target exported
}

func newCompareRig(t *testing.T, pin bfftest.ProcessOptions) *compareRig {
	t.Helper()
	rig := &compareRig{}
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
	rig.upConns = startLabelled(t, rig.upstream, "upstream")
	rig.targets = append(rig.targets, &compareTarget{name: "direct", url: rig.upstream.URL + "/items"})

	bareProfile := ""
	if *loadProfile != "" {
		bareProfile = *loadProfile + ".bare"
	}
	bare, proc := startBare(t, pin, rig.upstream.URL, bareProfile)
	rig.targets = append(rig.targets, &compareTarget{name: "bare", url: bare + "/items", proc: proc})

	bin := *loadBin
	if bin == "" {
		bin = bfftest.Build(t, "bffprofile")
	}
	addr := kit.ClosedPort(t)
	public := &url.URL{Scheme: "http", Host: addr}
	op := bfftest.StartOP(t, public, bfftest.OPOptions{AccessTTL: time.Hour}) // no refresh during the run
	key := bfftest.NewKey(t)
	type variant struct {
		name, bin string
		env       map[string]string
	}
	variants := []variant{
		{"bff", bin, map[string]string{"BFF_PROFILE_CPU": *loadProfile}},
		{"bff-quiet", bin, map[string]string{"BFF_LOG_LEVEL": "warn"}},
	}
	if *loadTraced {
		collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			rig.spans.Add(n)
		}))
		t.Cleanup(collector.Close)
		variants = append(variants, variant{"bff-traced", bin, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector.URL + "/v1/traces"}})
	}
	if *loadRedis {
		// The same cookie session, now checked against Redis on every
		// request (has it been logged out?): answered from the client-side
		// cache, which is what this measures.
		redis := bfftest.StartRedis(t)
		variants = append(variants, variant{"bff-redis", bin, map[string]string{"BFF_REDIS_URL": redis.URL}})
	}
	for other := range strings.SplitSeq(*loadOthers, ",") {
		if name, path, ok := strings.Cut(other, "="); ok {
			variants = append(variants, variant{name, path, nil})
		}
	}
	for i, v := range variants {
		if i > 0 { // only the first is the OP's client origin, and only it is logged in to
			addr = kit.ClosedPort(t)
		}
		env := bfftest.Env(op, &url.URL{Scheme: "http", Host: addr}, key)
		env["BFF_ROUTES"] = "/api/=" + rig.upstream.URL + "/v1"
		env["BFF_METRICS_LISTEN"] = kit.ClosedPort(t) // as the manifests run it
		for k, val := range v.env {
			if val != "" {
				env[k] = val
			}
		}
		logs := &logPipe{}
		o := pin
		o.Stdout = logs
		proc := bfftest.ServeBinary(t, o, v.bin, addr, env)
		rig.targets = append(rig.targets, &compareTarget{name: v.name, url: "http://" + addr + "/api/items", proc: proc, logs: logs, bff: true})
	}

	// The session is sealed with the key every bff target shares, so the
	// one login serves them all.
	browser, jar := bfftest.NewClient(t)
	t.Cleanup(browser.CloseIdleConnections)
	bfftest.LogIn(t, browser, op, public.String())
	rig.session = newSessionHeader(jar.Cookies(public))
	return rig
}

// sender returns what a worker of tg does once: the same request every
// target gets, with the session cookie and X-CSRF, which only bff reads.
// Workers reuse their request, one at a time.
func (rig *compareRig) sender(t *testing.T, tg *compareTarget, workers int) func(int) (int, error) {
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
		if tg.bff {
			rig.session.update(resp)
		}
		return resp.StatusCode, nil
	}
}

// TestLoadCompare measures requests per second and latency at 64
// concurrent keep-alive connections: the upstream itself, a bare
// httputil.ReverseProxy, and bff with its defaults (access log on,
// metrics on) and with BFF_LOG_LEVEL=warn. Each round measures every
// target once, after a 1 s warm-up, starting from a different target each
// round so that a drift in the machine's speed spreads over all of them;
// the report gives each round and the median of the rounds.
func TestLoadCompare(t *testing.T) {
	needLoad(t)
	const workers = 64
	var pin bfftest.ProcessOptions
	pinned := false
	if *loadPin {
		pin, pinned = pinning(t)
	}
	rig := newCompareRig(t, pin)
	senders := map[string]func(int) (int, error){}
	for _, tg := range rig.targets {
		tg.client = loadClient(t, workers)
		senders[tg.name] = rig.sender(t, tg, workers)
		if code, err := senders[tg.name](0); err != nil || code != http.StatusOK {
			t.Fatalf("%s: first request: %d %v", tg.name, code, err)
		}
	}
	t.Logf("session Cookie header: %d bytes; servers pinned: %v", len(rig.session.get()), pinned)

	rounds := max(*loadRounds, 1)
	for round := range rounds {
		for i := range rig.targets {
			tg := rig.targets[(i+round)%len(rig.targets)]
			warm := hammer(workers, math.MaxInt, time.Second, senders[tg.name])
			if warm.errs > 0 || warm.non2xx() > 0 {
				t.Fatalf("%s warm-up: %d errors (first: %s), %d non-2xx", tg.name, warm.errs, warm.firstErr, warm.non2xx())
			}
			opened, closed := rig.upConns.opened.Load(), rig.upConns.closed.Load()
			var cpu0 time.Duration
			if tg.proc != nil {
				cpu0 = cpuTime(tg.proc.Pid())
			}
			run := hammer(workers, math.MaxInt, *loadDuration, senders[tg.name])
			var cpu time.Duration
			if tg.proc != nil {
				cpu = cpuTime(tg.proc.Pid()) - cpu0
			}
			tg.rounds, tg.cpu = append(tg.rounds, run), append(tg.cpu, cpu)
			t.Logf("round %d %-10s %8d req %8.0f req/s  p50 %-9v p99 %-9v server CPU %3.0f%%  errors %d non-2xx %d  upstream conns opened/closed %d/%d",
				round+1, tg.name, run.requests, run.rps(), roundLat(run.quantile(0.5)), roundLat(run.quantile(0.99)),
				100*cpu.Seconds()/run.elapsed.Seconds(), run.errs, run.non2xx(),
				rig.upConns.opened.Load()-opened, rig.upConns.closed.Load()-closed)
		}
	}
	t.Log(rig.report(workers, rounds))
	rig.check(t)
}

// report is the comparison's table: per target the median over rounds of
// req/s, p50 and p99, and per round the ratios to the bare proxy.
func (rig *compareRig) report(workers, rounds int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d concurrent keep-alive connections, %d-byte responses, %d rounds of %v, 1 s warm-up each; medians over rounds\n",
		workers, len(smallBody), rounds, *loadDuration)
	fmt.Fprintf(&sb, "%-10s %9s %10s %10s %11s %9s %7s %8s\n", "target", "req/s", "p50", "p99", "server CPU", "CPU/req", "errors", "non-2xx")
	byName := map[string]*compareTarget{}
	for _, tg := range rig.targets {
		byName[tg.name] = tg
		var errs, non2xx int
		var cpu, elapsed time.Duration
		for i, r := range tg.rounds {
			errs, non2xx, cpu, elapsed = errs+r.errs, non2xx+r.non2xx(), cpu+tg.cpu[i], elapsed+r.elapsed
		}
		fmt.Fprintf(&sb, "%-10s %9.0f %10v %10v %10.0f%% %9v %7d %8d\n", tg.name, rps(tg),
			roundLat(time.Duration(median(tg.rounds, func(r *loadRun) float64 { return float64(r.quantile(0.5)) }))),
			roundLat(time.Duration(median(tg.rounds, func(r *loadRun) float64 { return float64(r.quantile(0.99)) }))),
			100*cpu.Seconds()/elapsed.Seconds(), cpuPerRequest(tg).Round(100*time.Nanosecond), errs, non2xx)
	}
	bare := byName["bare"]
	for _, tg := range rig.targets {
		if !tg.bff {
			continue
		}
		rps, p99 := make([]float64, rounds), make([]float64, rounds)
		for i := range rounds {
			rps[i] = tg.rounds[i].rps() / bare.rounds[i].rps()
			p99[i] = latRatio(tg.rounds[i].quantile(0.99), bare.rounds[i].quantile(0.99))
		}
		r, p := medianOf(rps), medianOf(p99)
		fmt.Fprintf(&sb, "%s/bare: req/s %s median %.3f (target >= 0.90: %s); p99 %s median %.2f (target <= 1.2: %s); bare/%s CPU per request %.3f\n",
			tg.name, fmtRatios(rps), r, metVerdict(r >= 0.90), fmtRatios(p99), p, metVerdict(p <= 1.2),
			tg.name, cpuPerRequest(bare).Seconds()/cpuPerRequest(tg).Seconds())
	}
	if withRedis, without := byName["bff-redis"], byName["bff"]; withRedis != nil && without != nil {
		ratios := make([]float64, rounds)
		for i := range rounds {
			ratios[i] = withRedis.rounds[i].rps() / without.rounds[i].rps()
		}
		r := medianOf(ratios)
		fmt.Fprintf(&sb, "bff-redis/bff: req/s %s median %.3f (target >= 0.95: %s); bff/bff-redis CPU per request %.3f\n",
			fmtRatios(ratios), r, metVerdict(r >= 0.95), cpuPerRequest(without).Seconds()/cpuPerRequest(withRedis).Seconds())
	}
	fmt.Fprintf(&sb, "bare/direct req/s %.3f; bff responses that reset the session cookie: %d",
		rps(bare)/rps(byName["direct"]), rig.session.updates.Load())
	if n := rig.spans.Load(); n > 0 {
		fmt.Fprintf(&sb, "; bff-traced exported %d bytes of spans", n)
	}
	return sb.String()
}

// check fails the test when a target did not do its job, which would make
// its speed meaningless, and writes the profile when one was asked for.
func (rig *compareRig) check(t *testing.T) {
	t.Helper()
	var bffSent, sent int64
	for _, tg := range rig.targets {
		sent += tg.sent.Load()
		if tg.bff {
			bffSent += tg.sent.Load()
		}
		for _, r := range tg.rounds {
			if r.errs > 0 || r.non2xx() > 0 {
				t.Errorf("%s: %d errors (first: %s), %d non-2xx (by class %v)", tg.name, r.errs, r.firstErr, r.non2xx(), r.byClass)
			}
		}
		if tg.bff && rps(tg) < *loadMinRatio*rps(rig.targets[1]) {
			t.Errorf("%s: req/s below -load.minratio %.2f of the bare proxy's", tg.name, *loadMinRatio)
		}
	}
	if got := rig.upBearer.Load(); got != bffSent {
		t.Errorf("upstream saw %d requests with a bearer token, bff was sent %d", got, bffSent)
	}
	if got := rig.upHits.Load(); got != sent {
		t.Errorf("upstream saw %d requests, the targets were sent %d", got, sent)
	}
	if n := rig.upLeaks.Load(); n > 0 {
		t.Errorf("%d upstream requests carried bff's session cookie", n)
	}
	if *loadProfile != "" {
		writeProfile(t, rig.targets[2])
	}
	// Every request to bff at info level left its line in the pipe by the
	// time bff exits; at warn, none did.
	for _, tg := range rig.targets {
		if !tg.bff {
			continue
		}
		if err := tg.proc.Stop(20 * time.Second); err != nil {
			t.Errorf("%s: %v", tg.name, err)
		}
		want := tg.sent.Load()
		if tg.name == "bff-quiet" {
			want = 0
		}
		if got := tg.logs.requests.Load(); got != want {
			t.Errorf("%s: %d access-log lines for /api/ reached the pipe, want %d", tg.name, got, want)
		}
		if n := tg.logs.warnings.Load(); n > 0 {
			t.Errorf("%s logged %d warnings or errors under load, first: %q", tg.name, n, tg.logs.firstBad)
		}
	}
}

var profileWritten = regexp.MustCompile(`cpu profile written`)

// writeProfile asks the bff target for its CPU profile (see profile.go).
func writeProfile(t *testing.T, tg *compareTarget) {
	t.Helper()
	if err := tg.proc.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if !bfftest.Eventually(10*time.Second, func() bool { return profileWritten.MatchString(tg.proc.Stderr.String()) }) {
		t.Fatalf("%s wrote no profile; was it built with -tags bffprofile? stderr: %s", tg.name, tg.proc.Stderr.String())
	}
	if fi, err := os.Stat(*loadProfile); err != nil || fi.Size() == 0 {
		t.Errorf("profile %s: %v", *loadProfile, err)
	}
	t.Logf("CPU profile of %s: %s", tg.name, *loadProfile)
}

// cpuPerRequest is the server's CPU time per request over all rounds:
// unlike req/s, it hardly moves when other work on the machine takes
// turns on the server's CPU, so it says what bff costs where req/s is
// noisy.
func cpuPerRequest(tg *compareTarget) time.Duration {
	var cpu time.Duration
	n := 0
	for i, r := range tg.rounds {
		cpu, n = cpu+tg.cpu[i], n+r.requests
	}
	return cpu / time.Duration(max(n, 1))
}

// rps is tg's median req/s over its rounds.
func rps(tg *compareTarget) float64 { return median(tg.rounds, (*loadRun).rps) }

func median(rs []*loadRun, f func(*loadRun) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	return medianOf(vs)
}

func medianOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(vs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRatios(vs []float64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%.3f", v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
