package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// TestShutdownWritesEveryAccessLine runs the binary as a container runtime
// does, its log going to a pipe, and sends SIGTERM while requests are in
// flight: each request still gets its answer, each has its access-log line
// in the pipe (the log is buffered, so the last ones are written only on
// the way out), and the exit status is 0.
func TestShutdownWritesEveryAccessLine(t *testing.T) {
	const fast, slow = 300, 16
	var (
		inFlight atomic.Int64
		release  = make(chan struct{})
	)
	bin := bfftest.Build(t)
	d := bfftest.Deploy(t, bin, bfftest.DeploymentOptions{
		Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/slow/") {
				inFlight.Add(1)
				<-release
			}
			w.Write([]byte("ok"))
		}),
	})
	d.LogIn()

	id := func(kind string, i int) string { return fmt.Sprintf("%s-%04d", kind, i) }
	for i := range fast {
		if r := d.Get(fmt.Sprintf("/api/fast/%d", i), "X-CSRF", "1", "X-Request-Id", id("fast", i)); r.StatusCode != http.StatusOK {
			t.Fatalf("fast request %d: %d", i, r.StatusCode)
		}
	}
	var wg sync.WaitGroup
	codes := make([]int, slow)
	errs := make([]error, slow)
	for i := range slow {
		// Each on a connection of its own, as separate browsers would.
		c, _ := bfftest.NewClient(t)
		c.Jar.SetCookies(d.Public, d.Jar.Cookies(d.Public))
		wg.Go(func() {
			// Not t.Fatal: this goroutine is not the test's.
			r, err := bfftest.Send(c, http.MethodGet, d.Origin, fmt.Sprintf("/api/slow/%d", i), nil, "X-CSRF", "1", "X-Request-Id", id("slow", i))
			codes[i], errs[i] = statusOf(r), err
		})
	}
	if !bfftest.Eventually(10*time.Second, func() bool { return inFlight.Load() >= slow }) {
		t.Fatalf("only %d of %d slow requests reached the upstream", inFlight.Load(), slow)
	}
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // bff is draining: in-flight requests go on
	if exited, err := d.Exited(); exited {
		t.Fatalf("bff exited (%v) with requests in flight", err)
	}
	close(release)
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK || errs[i] != nil {
			t.Errorf("slow request %d in flight at SIGTERM: %d %v, want 200", i, code, errs[i])
		}
	}
	if err := d.Stop(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0\nstderr:\n%s", err, d.Stderr.String())
	}

	logged := map[string]bool{}
	for line := range strings.Lines(d.Stdout.String()) {
		var rec struct {
			Msg, Route string
			RequestID  string `json:"request_id"`
			Duration   any
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a line in the pipe is not JSON: %q", line)
		}
		if rec.Msg == "request" && rec.Route == "/api/" {
			logged[rec.RequestID] = true
			if _, ok := rec.Duration.(float64); !ok {
				t.Errorf("duration %v (%T) is not a number of milliseconds", rec.Duration, rec.Duration)
			}
		}
	}
	for kind, n := range map[string]int{"fast": fast, "slow": slow} {
		for i := range n {
			if !logged[id(kind, i)] {
				t.Errorf("no access-log line reached the pipe for %s", id(kind, i))
			}
		}
	}
	if len(logged) != fast+slow {
		t.Errorf("%d access-log lines for /api/, want %d", len(logged), fast+slow)
	}
}
