package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/proxy"
)

// The bare proxy runs as a process of its own, like bff: this test binary,
// started again with these variables set, is it.
const (
	roleVar     = "LOAD_TEST_ROLE"
	upstreamVar = "LOAD_TEST_UPSTREAM"
	profileVar  = "LOAD_TEST_CPUPROFILE" // written when the bare proxy stops
)

func TestMain(m *testing.M) {
	if os.Getenv(roleVar) == "bare" {
		if path := os.Getenv(profileVar); path != "" {
			f, err := os.Create(path)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "bare proxy:", err)
				os.Exit(1)
			}
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
		if err := serveBare(os.Getenv(upstreamVar)); err != nil {
			fmt.Fprintln(os.Stderr, "bare proxy:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// serveBare is the best a bare httputil.ReverseProxy does: the transport
// bff uses (an idle pool of 256 per host, more than the load's 64
// connections) and pooled copy buffers. It prints its address and serves
// until SIGTERM.
func serveBare(upstream string) error {
	up, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.SetXForwarded()
		},
		Transport:  proxy.NewTransport(),
		BufferPool: proxy.NewBufferPool(),
	}, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	fmt.Println("listening", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startBare starts the bare proxy in front of upstream and returns its
// origin.
func startBare(t *testing.T, o bfftest.ProcessOptions, upstream, profile string) (string, *bfftest.Process) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{roleVar: "bare", upstreamVar: upstream}
	if profile != "" {
		env[profileVar] = profile
	}
	p := bfftest.StartProcessWith(t, o, self, env)
	addr := p.WaitFor(t, listeningRE, 10*time.Second)[1]
	return "http://" + addr, p
}

// pinning places the servers under test on one CPU and everything else
// (this process: the load generator, the upstream, the OP, and the reader
// of bff's log pipe) on another, so that a server's speed is its own and
// not what it wins from its neighbours. ok is false on a machine with one
// CPU or without taskset.
func pinning(t *testing.T) (server bfftest.ProcessOptions, ok bool) {
	t.Helper()
	if runtime.NumCPU() < 2 {
		return server, false
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return server, false
	}
	own := 0
	if out, err := exec.Command("taskset", "-a", "-p", "-c", strconv.Itoa(own), strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		t.Fatalf("pinning the test to CPU %d: %v: %s", own, err, out)
	}
	prev := runtime.GOMAXPROCS(1)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(prev)
		_ = exec.Command("taskset", "-a", "-p", "-c", fmt.Sprintf("0-%d", runtime.NumCPU()-1), strconv.Itoa(os.Getpid())).Run()
	})
	cpu := 1
	return bfftest.ProcessOptions{CPU: &cpu}, true
}

// cpuTime is the CPU time pid has used so far, from /proc; 0 where that
// cannot be read.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}

// logPipe reads a bff process's standard output as a container runtime
// would, keeping only counts: lines, access-log lines of the /api/ route,
// and warnings or errors, whose first few it keeps for the report.
type logPipe struct {
	mu       sync.Mutex
	partial  []byte
	lines    atomic.Int64
	requests atomic.Int64
	warnings atomic.Int64
	firstBad []string
}

func (l *logPipe) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	data := append(l.partial, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		l.line(data[:i])
		data = data[i+1:]
	}
	l.partial = append(l.partial[:0], data...) // a line's start, until its end arrives
	return len(p), nil
}

func (l *logPipe) line(line []byte) {
	l.lines.Add(1)
	if bytes.Contains(line, []byte(`"msg":"request"`)) && bytes.Contains(line, []byte(`"route":"/api/"`)) {
		l.requests.Add(1)
	}
	if bytes.Contains(line, []byte(`"level":"WARN"`)) || bytes.Contains(line, []byte(`"level":"ERROR"`)) {
		l.warnings.Add(1)
		if len(l.firstBad) < 5 {
			l.firstBad = append(l.firstBad, string(line))
		}
	}
}

var listeningRE = regexp.MustCompile(`listening (\S+)`)
