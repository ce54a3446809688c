package chrome

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Require returns the Chromium to drive, or skips the test (or, on CI,
// fails it) before anything is started.
func Require(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test starts Chromium")
	}
	path := Path()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but there is no Chromium: .ci/install-chromium must install Debian's chromium at /usr/bin/chromium")
		}
		t.Skip("no Chromium binary (/usr/bin/chromium, or chromium on PATH): install Debian's chromium to run this test")
	}
	return path
}

// Path finds Debian's chromium, or another Chromium on PATH; "" when there
// is none.
func Path() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Start starts headless Chromium at path with a fresh profile and returns
// the context of its first tab. The browser is closed in t.Cleanup, and the
// test fails if any process of it is left behind.
func Start(t testing.TB, path string) context.Context {
	t.Helper()
	// Registered before the browser's cleanup, so it is removed after the
	// browser has exited.
	profile := t.TempDir()
	// Chromium's helpers carry the profile directory on their command
	// line, but the crash handlers do not: they re-parent themselves to
	// init, and only the environment they inherit from the browser names
	// them. A variable unique to this run and the profile directory
	// together name exactly the processes this test is responsible for.
	// XDG_CONFIG_HOME keeps the crash handler's database out of the real
	// home directory.
	marker := "BFF_BROWSER_TEST_RUN=" + rand.Text()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests may run as root, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.Env(marker, "XDG_CONFIG_HOME="+filepath.Join(profile, "xdg-config")),
		chromedp.WindowSize(1280, 900),
	)
	// The whole browser session gets a budget, so a hang fails the test
	// instead of stalling it until go test's own timeout.
	budget, cancelBudget := context.WithTimeout(context.Background(), 150*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(budget, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	stop := func() {
		// A graceful close first, so Chromium takes its helpers down with
		// it; cancelling the allocator then kills whatever is left and
		// waits for the process to be reaped.
		closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = chromedp.Cancel(closeCtx)
		cancel()
		cancelTab()
		cancelAlloc()
		cancelBudget()
	}
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		stop()
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	proc := chromedp.FromContext(ctx).Browser.Process()
	// The leftover check below proves something only if it can see the
	// browser's processes while they run.
	running := len(processesOf(profile, marker))
	if runtime.GOOS == "linux" && running == 0 {
		stop()
		t.Fatal("cannot find chromium's processes in /proc; the leftover check would prove nothing")
	}
	t.Cleanup(func() {
		if n := len(processesOf(profile, marker)); n > running {
			running = n
		}
		stop()
		if proc != nil {
			if err := proc.Signal(syscall.Signal(0)); err == nil || !errors.Is(err, os.ErrProcessDone) {
				t.Errorf("chromium (pid %d) is still running after the allocator was cancelled: %v", proc.Pid, err)
				proc.Kill()
			}
		}
		// Helpers may take a moment to notice that the browser is gone.
		deadline := time.Now().Add(3 * time.Second)
		left := processesOf(profile, marker)
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			left = processesOf(profile, marker)
		}
		for _, p := range left {
			t.Errorf("chromium helper process %d outlived the browser", p.Pid)
			p.Kill()
		}
		t.Logf("chromium ran as %d processes; %d left after it closed", running, len(left))
	})
	return ctx
}

// processesOf lists the running processes started with profile as their
// --user-data-dir or with the entry marker in their environment. It reads
// /proc, so it finds nothing where there is none.
func processesOf(profile, marker string) []*os.Process {
	flag := "--user-data-dir=" + profile
	entries, _ := os.ReadDir("/proc")
	var found []*os.Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		// A process that has exited but not been reaped has an empty
		// cmdline and environ, so what is found here still runs.
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if !hasArg(string(cmdline), flag) && !slices.Contains(strings.Split(string(environ), "\x00"), marker) {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil {
			found = append(found, p)
		}
	}
	return found
}

// hasArg reports whether cmdline, as /proc shows it, holds the argument
// arg. Chromium's zygote children rewrite their command line into one
// space-separated string, so both NUL and space end an argument.
func hasArg(cmdline, arg string) bool {
	for rest := cmdline; ; {
		i := strings.Index(rest, arg)
		if i < 0 {
			return false
		}
		before, after := rest[:i], rest[i+len(arg):]
		if (before == "" || strings.HasSuffix(before, "\x00") || strings.HasSuffix(before, " ")) &&
			(after == "" || after[0] == 0 || after[0] == ' ') {
			return true
		}
		rest = after
	}
}

// WhereIs describes the page a failed step left the browser on: its
// address without the query (which may hold an authorization code) and the
// start of its text.
func WhereIs(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`location.origin + location.pathname + ' shows: ' + (document.body ? document.body.innerText.slice(0, 200) : '')`))
	if err != nil {
		return "page unknown: " + err.Error()
	}
	return "the browser is at " + v
}

// Eval evaluates js in the tab of ctx, awaiting it if it is a promise.
func Eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}
