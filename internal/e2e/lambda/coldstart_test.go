package lambda

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// BenchmarkColdStart times bff's cold start as a function: from the
// invocation that makes the emulator start the binary to that
// invocation's result, a proxied 200 for a browser whose session cookie is
// valid. Each of the b.N rounds starts two functions, taking turns so that
// both see the same machine: one with BFF_DISCOVERY_FILE, one that fetches
// the discovery document from its OP first (on loopback here, where a real
// IdP adds its DNS, TLS and HTTP round trips). Every start is a fresh
// emulator and process, set up and stopped outside the timer. It reports
// each kind's median and slowest, the median CPU time bff's process used
// up to the response (which, unlike the time taken, does not grow when
// other programs load the machine), the binary's size, and what package
// initialisation costs (GODEBUG=inittrace=1).
//
//	go test -run '^$' -bench ColdStart -benchtime 30x ./internal/e2e/lambda
func BenchmarkColdStart(b *testing.B) {
	bin := bfftest.Build(b)
	kinds := []struct {
		name  string
		f     *function
		event []byte
		took  []time.Duration
		cpu   []time.Duration
	}{{name: "file"}, {name: "fetched"}}
	for i := range kinds {
		k := &kinds[i]
		k.f = deploy(b, bin, options{Discovery: k.name == "file", AccessTTL: time.Hour})
		k.f.login(b)
		k.event = k.f.sessionEvent(b, "/api/orders/1")
		k.f.Lambda.Stop(20 * time.Second)
		k.f.Upstream.Drain()
	}
	b.ResetTimer()
	for range b.N {
		for i := range kinds {
			k := &kinds[i]
			b.StopTimer()
			l := bfftest.StartLambda(b, bin, k.f.Env)
			b.StartTimer()
			start := time.Now()
			out, err := l.Invoke(k.event)
			k.took = append(k.took, time.Since(start))
			b.StopTimer()
			if res, derr := k.f.Decode(out); err != nil || derr != nil || res.Status != http.StatusOK {
				b.Fatalf("cold start (%s): %+v %v %v\n%s", k.name, res, err, derr, l.Stdout.String()+l.Stderr.String())
			}
			if saw := k.f.Upstream.Last(b); !strings.HasPrefix(saw.Authorization, "Bearer ") {
				b.Fatal("the upstream got no token")
			}
			cpu, err := l.FunctionCPU()
			if err != nil {
				b.Fatal(err)
			}
			k.cpu = append(k.cpu, cpu)
			if err := l.Stop(20 * time.Second); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.StopTimer()
	for _, k := range kinds {
		slices.Sort(k.took)
		slices.Sort(k.cpu)
		median, slowest, cpu := k.took[len(k.took)/2], k.took[len(k.took)-1], k.cpu[len(k.cpu)/2]
		b.ReportMetric(ms(median), "ms-median-"+k.name)
		b.ReportMetric(ms(slowest), "ms-max-"+k.name)
		b.ReportMetric(ms(cpu), "ms-cpu-median-"+k.name)
		b.Logf("discovery %s: %d cold starts, median %v, fastest %v, slowest %v; bff's CPU time to the response: median %v",
			k.name, len(k.took), median, k.took[0], slowest, cpu)
	}
	if fi, err := os.Stat(bin); err == nil {
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-binary")
	}
	if b.N > 1 {
		b.Log(initTrace(b, bin, kinds[0].f, kinds[0].event))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sessionEvent is the function URL event of the SPA calling path with the
// client's session.
func (f *function) sessionEvent(t testing.TB, path string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, public.String()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-CSRF", "1")
	for _, c := range f.Jar.Cookies(public) {
		req.AddCookie(c)
	}
	event, err := f.Event(req)
	if err != nil {
		t.Fatal(err)
	}
	return event
}

// initLine is one line of GODEBUG=inittrace=1: a package's init, its start
// after the process's, and its own wall-clock time.
var initLine = regexp.MustCompile(`(?m)^init (\S+) @([0-9.]+) ms, ([0-9.]+) ms clock, ([0-9]+) bytes`)

// initTrace runs one more cold start with GODEBUG=inittrace=1 and sums up
// what package initialisation cost: in all, and the five dearest.
func initTrace(b *testing.B, bin string, f *function, event []byte) string {
	env := map[string]string{"GODEBUG": "inittrace=1"}
	for k, v := range f.Env {
		env[k] = v
	}
	l := bfftest.StartLambda(b, bin, env)
	// The emulator, a Go program too, has traced its own init by the time
	// it listens; bff starts at the invocation.
	stdout, stderr := len(l.Stdout.String()), len(l.Stderr.String())
	if _, err := l.Invoke(event); err != nil {
		b.Fatal(err)
	}
	if err := l.Stop(20 * time.Second); err != nil {
		b.Fatal(err)
	}
	type pkg struct {
		name       string
		clock, end float64
		bytes      int
	}
	var pkgs []pkg
	traced := l.Stdout.String()[stdout:] + l.Stderr.String()[stderr:]
	for _, m := range initLine.FindAllStringSubmatch(traced, -1) {
		at, _ := strconv.ParseFloat(m[2], 64)
		clock, _ := strconv.ParseFloat(m[3], 64)
		n, _ := strconv.Atoi(m[4])
		pkgs = append(pkgs, pkg{m[1], clock, at + clock, n})
	}
	if len(pkgs) == 0 {
		b.Fatal("GODEBUG=inittrace=1 printed nothing the trace could read")
	}
	var clock float64
	var heap int
	for _, p := range pkgs {
		clock += p.clock
		heap += p.bytes
	}
	last := slices.MaxFunc(pkgs, func(a, c pkg) int { return int(a.end*1000 - c.end*1000) })
	slices.SortFunc(pkgs, func(a, c pkg) int { return int(c.clock*1000 - a.clock*1000) })
	var top []string
	for _, p := range pkgs[:min(5, len(pkgs))] {
		top = append(top, fmt.Sprintf("%s %.2f ms", p.name, p.clock))
	}
	return fmt.Sprintf("inittrace: %d packages, %.2f ms of init in all (%.1f KiB), done %.2f ms after the process started; dearest: %s",
		len(pkgs), clock, float64(heap)/1024, last.end, strings.Join(top, ", "))
}
