package bfftest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"bff/internal/bfftest/kit"
)

// RIEModule is the AWS Lambda Runtime Interface Emulator, built from its
// module with the Go toolchain (.ci/lambda-rie reads the version here).
const (
	RIEModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// RIEPath is where .ci/lambda-rie installs the emulator, and where RIE
// looks for it: a cache shared between runs.
func RIEPath() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "bff-ci", "aws-lambda-rie-"+RIEVersion, "aws-lambda-rie")
}

// RIE returns the emulator's binary. When .ci/lambda-rie has not installed
// it, RIE builds it from the module cache without the network; when that
// fails too, the test is skipped, saying why, or on CI failed.
func RIE(t testing.TB) string {
	t.Helper()
	bin := RIEPath()
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if testing.Short() {
		t.Skip("-short: this test builds the Lambda Runtime Interface Emulator")
	}
	modcache, err := exec.Command(GoCmd(), "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	// The module cache's download directory is a module proxy of what was
	// once downloaded, and already checked against the checksum database.
	install := exec.Command(GoCmd(), "install", RIEModule+"/cmd/aws-lambda-rie@"+RIEVersion)
	install.Env = append(os.Environ(), "CGO_ENABLED=0", "GOBIN="+filepath.Dir(bin), "GOSUMDB=off",
		"GOPROXY=file://"+filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download"))
	if out, err := install.CombinedOutput(); err != nil {
		Missing(t, "the AWS Lambda Runtime Interface Emulator could not be built (bash .ci/lambda-rie builds it with the network): %v\n%s", err, out)
	}
	return bin
}

// Lambda is bff running as a Lambda function under the emulator, which
// starts the binary (the bootstrap) at the first invocation, as Lambda
// does at a cold start.
type Lambda struct {
	*Process
	// Invocations is the emulator's invoke endpoint.
	Invocations string
}

// StartLambda starts the emulator on loopback with bin as the function,
// whose environment is env: the emulator passes its own on, adding
// AWS_LAMBDA_RUNTIME_API. It returns once the emulator listens; bin
// itself starts at the first invocation. It stops when the test ends.
func StartLambda(t testing.TB, bin string, env map[string]string) *Lambda {
	t.Helper()
	rie := RIE(t)
	addr := kit.ClosedPort(t)
	p := StartProcess(t, rie, env,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", kit.ClosedPort(t),
		"--log-level", "warn",
		bin)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			break
		}
		if exited, err := p.Exited(); exited || time.Now().After(deadline) {
			t.Fatalf("the emulator did not listen on %s (exited: %v %v):\n%s%s", addr, exited, err, p.Stdout.String(), p.Stderr.String())
		}
	}
	return &Lambda{Process: p, Invocations: "http://" + addr + "/2015-03-31/functions/function/invocations"}
}

// Invoke sends one event, as the function URL's front end would, and
// returns the invocation's result: the stream (a JSON prelude, eight zero
// bytes, the body) or, for a buffered function, the JSON result. A failed
// invocation is an error.
func (l *Lambda) Invoke(event []byte) ([]byte, error) {
	c := &http.Client{Timeout: AnswerBound}
	resp, err := c.Post(l.Invocations, "application/json", bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invocation: %s: %s", resp.Status, b)
	}
	// The emulator answers a failed invocation with the error the
	// runtime reported, as the Invoke API does.
	if bytes.HasPrefix(b, []byte(`{"errorMessage"`)) || bytes.HasPrefix(b, []byte(`{"errorType"`)) {
		return nil, &InvocationError{Body: string(b)}
	}
	return b, nil
}

// InvocationError is an invocation the function reported as failed.
type InvocationError struct{ Body string }

func (e *InvocationError) Error() string { return "invocation failed: " + e.Body }

// IsInvocationError reports whether err is a failed invocation, as opposed
// to an emulator that did not answer.
func IsInvocationError(err error) bool {
	var ie *InvocationError
	return errors.As(err, &ie)
}

// FunctionCPU is the CPU time the function's process (the emulator's one
// child) has used so far, every thread's, from the kernel's scheduler
// statistics: unlike the time an invocation takes, it does not grow when
// other programs compete for the machine.
func (l *Lambda) FunctionCPU() (time.Duration, error) {
	pid, err := l.function()
	if err != nil {
		return 0, err
	}
	stats, _ := filepath.Glob("/proc/" + pid + "/task/*/schedstat")
	var total time.Duration
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var ns int64
		if _, err := fmt.Sscan(string(b), &ns); err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		total += time.Duration(ns)
	}
	if len(stats) == 0 {
		return 0, errors.New("no scheduler statistics for the function's process")
	}
	return total, nil
}

// function is the process id of the function: the emulator's one child.
func (l *Lambda) function() (string, error) {
	var children []string
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", l.Pid()))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		children = append(children, strings.Fields(string(b))...)
	}
	if len(children) != 1 {
		return "", fmt.Errorf("the emulator has %d child processes, want the function alone", len(children))
	}
	return children[0], nil
}

// Freeze stops the function's process, as Lambda freezes a function
// between invocations: none of its goroutines runs, its timers included,
// until the returned thaw (which the test's cleanup calls too).
func (l *Lambda) Freeze(t testing.TB) (thaw func()) {
	t.Helper()
	l.SignalFunction(t, syscall.SIGSTOP)
	var once sync.Once
	thaw = func() { once.Do(func() { l.SignalFunction(t, syscall.SIGCONT) }) }
	t.Cleanup(thaw)
	return thaw
}

// SignalFunction sends sig to the function's process, as the Lambda
// service sends SIGTERM to a function it shuts down.
func (l *Lambda) SignalFunction(t testing.TB, sig syscall.Signal) {
	t.Helper()
	id, err := l.function()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(id)
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("signal %v to the function: %v", sig, err)
	}
}

// StreamSeparator ends a streamed result's prelude.
var StreamSeparator = []byte{0, 0, 0, 0, 0, 0, 0, 0}

// SplitStream splits a streamed result into its prelude and its body.
func SplitStream(result []byte) (prelude, body []byte, ok bool) {
	prelude, body, ok = bytes.Cut(result, StreamSeparator)
	return prelude, body, ok && strings.HasPrefix(string(prelude), "{")
}

// DiscoveryFile writes the OP's discovery document, as its
// .well-known/openid-configuration serves it, to a file for
// BFF_DISCOVERY_FILE, and returns the file's path.
func (op *OP) DiscoveryFile(t testing.TB) string {
	t.Helper()
	resp := Get(t, &http.Client{Timeout: 5 * time.Second}, op.Issuer, op.Issuer+"/.well-known/openid-configuration")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery document: %d %s", resp.StatusCode, resp.Text)
	}
	file := filepath.Join(t.TempDir(), "openid-configuration.json")
	if err := os.WriteFile(file, []byte(resp.Text), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// Client returns a browser-like client (cookies kept, redirects not
// followed) whose requests for the function go through f.
func (f *FunctionURL) Client(t testing.TB) (*http.Client, http.CookieJar) {
	t.Helper()
	c, jar := NewClient(t)
	c.Transport = f
	t.Cleanup(f.next.CloseIdleConnections)
	return c, jar
}
