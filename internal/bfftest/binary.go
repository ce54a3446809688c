package bfftest

import (
	"bff/internal/bfftest/kit"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Version is what [Build] stamps into the binary.
const Version = "test"

// RepoRoot is the module's root directory, wherever the test runs from.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the module root")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// GoCmd is the go command of the toolchain running the test.
func GoCmd() string {
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// Offline keeps the go command from reaching the network: everything it
// needs must already be in the module cache (go mod download).
func Offline(env []string) []string {
	return append(env, "GOPROXY=off", "GOFLAGS=-mod=readonly")
}

// Build builds the bff binary the way the Dockerfile does (static,
// stripped, -trimpath, version [Version]) and returns its path. Build tags,
// if any, add the files that only measurements build (see profile.go).
// Each set of tags is built once per test binary, as linking takes
// seconds, and the binary is shared: a test must not change it.
func Build(t testing.TB, tags ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test builds the bff binary")
	}
	builds.Lock()
	defer builds.Unlock()
	key := strings.Join(tags, ",")
	if bin, ok := builds.bins[key]; ok {
		return bin
	}
	if builds.dir == "" {
		dir, err := buildDir()
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.bins = dir, map[string]string{}
	}
	bin := filepath.Join(builds.dir, "bff-"+strconv.Itoa(len(builds.bins)))
	build := exec.Command(GoCmd(), "build", "-trimpath", "-tags", key,
		"-ldflags", "-s -w -X bff/internal/version.stamp="+Version, "-o", bin, ".")
	build.Dir = RepoRoot(t)
	build.Env = append(Offline(os.Environ()), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s(the test does not download modules: run go mod download first)", err, out)
	}
	builds.bins[key] = bin
	return bin
}

// builds are the binaries [Build] made in this process, by tags.
var builds struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// buildPrefix names the directories [Build] keeps its binaries in; the
// owning process's id follows it.
const buildPrefix = "bff-test-build-"

// buildDir makes the directory this process's binaries go in. A test
// binary has no hook to run at its exit, so each one removes the
// directories of test processes that are gone instead.
func buildDir() (string, error) {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), buildPrefix+"*"))
	for _, dir := range old {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(dir), buildPrefix), "-", 2)[0])
		if err == nil && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
	dir, err := os.MkdirTemp("", buildPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("build directory: %w", err)
	}
	return dir, nil
}

// Process is a running command whose output the test reads.
type Process struct {
	Stdout, Stderr *kit.Buffer
	cmd            *exec.Cmd
	done           chan error
}

// StartProcess runs bin with args and exactly env (and PATH), collecting
// its output. At cleanup, unless [Process.Stop] ran, it sends SIGTERM and
// expects a clean exit within 20 s.
func StartProcess(t testing.TB, bin string, env map[string]string, args ...string) *Process {
	t.Helper()
	return StartProcessWith(t, ProcessOptions{}, bin, env, args...)
}

// ProcessOptions change how [StartProcessWith] runs a command.
type ProcessOptions struct {
	// Stdout, when set, takes the standard output, through a pipe as a
	// container runtime would, instead of Process.Stdout.
	Stdout io.Writer
	// CPU, when set, pins the process to that CPU with taskset.
	CPU *int
}

// StartProcessWith is [StartProcess] with options.
func StartProcessWith(t testing.TB, o ProcessOptions, bin string, env map[string]string, args ...string) *Process {
	t.Helper()
	p := &Process{Stdout: &kit.Buffer{}, Stderr: &kit.Buffer{}, done: make(chan error, 1)}
	name := bin
	if o.CPU != nil {
		// taskset execs bin, so the process keeps its pid and gets the
		// signals sent to it.
		args = append([]string{"-c", strconv.Itoa(*o.CPU), bin}, args...)
		name = "taskset"
	}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = EnvList(env)
	p.cmd.Stdout, p.cmd.Stderr = p.Stdout, p.Stderr
	if o.Stdout != nil {
		p.cmd.Stdout = o.Stdout
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if err := p.Stop(20 * time.Second); err != nil {
			t.Errorf("%s %v: %v\nstderr:\n%s", filepath.Base(bin), args, err, p.Stderr.String())
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Stop sends SIGTERM and waits up to within for the process to exit; an
// exit other than 0, or none in time (then it is killed), is an error.
// Stopping a stopped process returns what the first Stop did.
func (p *Process) Stop(within time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err // for the next Stop
		return err
	case <-time.After(within):
		_ = p.cmd.Process.Kill()
		p.done <- <-p.done
		return fmt.Errorf("no exit within %v of SIGTERM", within)
	}
}

// Pid is the process id, for a test that reads the process's resource use.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case err := <-p.done:
		p.done <- err
		return true, err
	default:
		return false, nil
	}
}

// WaitFor waits up to within for stdout to match re and returns the
// match's submatches. It fails the test when the process exits first or
// the time runs out.
func (p *Process) WaitFor(t testing.TB, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(p.Stdout.String()); m != nil {
			return m
		}
		if exited, err := p.Exited(); exited {
			t.Fatalf("exited (%v) before printing %q:\nstdout:\n%s\nstderr:\n%s", err, re, p.Stdout.String(), p.Stderr.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("did not print %q within %v:\nstdout:\n%s\nstderr:\n%s", re, within, p.Stdout.String(), p.Stderr.String())
		}
	}
}

var listening = regexp.MustCompile(`(?m)^(.*"msg":"bff listening".*)$`)

// Start runs bin serving with exactly env, waits for its "bff listening"
// log line on stdout (every line before it must be JSON), and returns the
// address it logged. At cleanup it sends SIGTERM and expects a clean exit.
func Start(t testing.TB, bin string, env map[string]string) (addr string, p *Process) {
	t.Helper()
	p = StartProcess(t, bin, env)
	line := p.WaitFor(t, listening, 10*time.Second)[1]
	for l := range strings.SplitSeq(p.Stdout.String(), "\n") {
		if l == line {
			break
		}
		if !json.Valid([]byte(l)) {
			t.Fatalf("a log line on stdout is not JSON: %q", l)
		}
	}
	var rec struct {
		Addr    string `json:"addr"`
		Version string `json:"version"`
		Level   string `json:"level"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Addr == "" {
		t.Fatalf("start-up log line without addr: %q", line)
	}
	if rec.Version != Version || rec.Level != "INFO" {
		t.Errorf("start-up log line %q: want level INFO and version %s", line, Version)
	}
	return rec.Addr, p
}

// ServeBinary runs bin serving on addr (a free loopback address, such as
// kit.ClosedPort gives) with env, and waits until it is ready.
func ServeBinary(t testing.TB, o ProcessOptions, bin, addr string, env map[string]string) *Process {
	t.Helper()
	env = maps.Clone(env)
	env["BFF_LISTEN"] = addr
	p := StartProcessWith(t, o, bin, env)
	if err := WaitReady(addr, 20*time.Second); err != nil {
		t.Fatalf("%v\nstderr:\n%s", err, p.Stderr.String())
	}
	return p
}

// Run runs bin to completion with env and args, and returns its exit code,
// stdout and stderr. It fails the test if bin is still running after 10 s.
func Run(t testing.TB, bin string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = EnvList(env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("bff %v kept running; expected it to finish", args)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// EnvList is env as a process environment, with PATH added.
func EnvList(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
