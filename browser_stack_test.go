package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"bff/cookie"
	"bff/demo/api"
	"bff/demo/idp"
	"bff/demo/spa"
	"bff/proxy"
)

// The browser suite runs the demo for real: headless Chromium logs in
// through the OP's form, calls the demo API through two bff replicas that
// share only their cookie keys, watches bff refresh the access token, and
// logs out, while the test watches everything the browser sees for tokens
// and tries the API from another site.
//
// The origins are chosen so that the browser's own rules are exercised:
//
//	http://127.0.0.1:P  the front (round robin over the replicas): the SPA,
//	                    /auth/ and /api/. Chromium counts loopback as a
//	                    secure context, so __Host- and Secure cookies work
//	                    without TLS.
//	http://127.0.0.2:Q  the OP. A different host, not just a different
//	                    port: ports do not make a site, so only another
//	                    host makes the login round trip a cross-site
//	                    navigation, which is what the SameSite=Lax login
//	                    cookie exists for.
//	http://127.0.0.3:R  a page of another site that tries to use the
//	                    session (SameSite=Strict and the X-CSRF preflight
//	                    must stop it).

// browserAccessTTL is the OP's access token lifetime. bff refreshes a token
// once it is within 30 s of expiry, so a 32 s token becomes due about 2 s
// after it is issued: the suite sees a real refresh within seconds, with
// real clocks everywhere.
const browserAccessTTL = 32 * time.Second

// browserStack is the demo deployment on loopback, as the browser sees it.
type browserStack struct {
	op         *idp.Provider
	opOrigin   string // http://127.0.0.2:Q
	endSession string // the OP's end_session_endpoint, from its discovery document
	public     string // the front's origin, the only bff origin the browser knows
	foreign    string // the other site's origin
	apiHits    atomic.Int64
	front      frontLog
	logs       *syncBuffer
}

// frontRequest is one request the front passed to a replica, as bff saw it.
type frontRequest struct {
	Replica   int
	Method    string
	Path      string
	FetchSite string // Sec-Fetch-Site, the browser's own word on where a request came from
	Origin    string
	ACRH      string // Access-Control-Request-Headers of a preflight
	BFFCookie bool   // the request carried a __Host-bff cookie
	CSRF      bool   // the request carried X-CSRF: 1
	Status    int
	ACAO      string // Access-Control-Allow-Origin of the answer
}

type frontLog struct {
	mu   sync.Mutex
	reqs []frontRequest
}

func (l *frontLog) add(r frontRequest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

func (l *frontLog) all() []frontRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// listenOn starts a test server for h on host (a loopback address other
// than 127.0.0.1 gives it a site of its own).
func listenOn(t *testing.T, host string, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

type replicaKey struct{}

// newBrowserStack starts the OP, the demo API, two bff replicas serving the
// demo SPA, the round-robin front and the other site's page.
func newBrowserStack(t *testing.T) *browserStack {
	t.Helper()
	s := &browserStack{logs: &syncBuffer{}}
	log := slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			logs := s.logs.String()
			t.Logf("stack logs (last 16 KiB):\n%s", logs[max(0, len(logs)-16<<10):])
		}
	})

	// The front's address is needed before anything starts: it is the
	// redirect URI the OP registers and the public URL bff checks against.
	front := httptest.NewUnstartedServer(nil)
	s.public = "http://" + front.Listener.Addr().String()
	publicURL, err := url.Parse(s.public)
	if err != nil {
		t.Fatal(err)
	}

	opMux := http.NewServeMux()
	opServer := listenOn(t, "127.0.0.2", opMux)
	s.opOrigin = opServer.URL
	issuer := opServer.URL + "/idp"
	secret := rand.Text()
	s.op, err = idp.New(idp.Config{
		Issuer: issuer, ClientID: "bff", ClientSecret: secret,
		RedirectURIs:           []string{s.public + "/auth/callback"},
		PostLogoutRedirectURIs: []string{s.public + "/"},
		AccessTokenLifetime:    browserAccessTTL,
		// Two replicas may redeem one refresh token at about the same
		// time; production IdPs allow that under rotation with a grace
		// period, and so does this one.
		RefreshReuseInterval: 30 * time.Second,
		Logger:               log.With("component", "op"),
	})
	if err != nil {
		t.Fatal(err)
	}
	opMux.Handle("/idp/", http.StripPrefix("/idp", s.op))
	s.endSession = discoverEndSession(t, issuer)

	apiHandler, err := api.New(t.Context(), api.Config{
		Issuer: issuer, Audience: "bff", Logger: log.With("component", "api"),
	})
	if err != nil {
		t.Fatal(err)
	}
	apiServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.apiHits.Add(1)
		apiHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(apiServer.Close)
	apiURL, err := url.Parse(apiServer.URL)
	if err != nil {
		t.Fatal(err)
	}

	key := make([]byte, 32)
	rand.Read(key)
	keys, err := cookie.NewKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Issuer: issuer, ClientID: "bff", ClientSecret: secret, PublicURL: publicURL, CookieKeys: keys,
		Routes:        []proxy.Route{{Prefix: "/api/", Upstream: apiURL}},
		Scopes:        []string{"openid", "profile", "email", "offline_access"},
		SessionMaxAge: 12 * time.Hour, SessionIdle: time.Hour,
	}
	var backends []*url.URL
	for i := range 2 {
		a, err := newApp(cfg, log.With("replica", i), extras{static: spa.FS()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		err = a.auth.Discover(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.handler)
		t.Cleanup(srv.Close)
		u, _ := url.Parse(srv.URL)
		backends = append(backends, u)
	}

	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(transport.CloseIdleConnections)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backends[pr.In.Context().Value(replicaKey{}).(int)])
			pr.Out.Host = pr.In.Host // the replicas see the public host, as behind a real load balancer
		},
		Transport: transport,
	}
	var next atomic.Uint64
	front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		replica := int(next.Add(1) % uint64(len(backends)))
		rec := &statusRecorder{ResponseWriter: w}
		rp.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), replicaKey{}, replica)))
		s.front.add(frontRequest{
			Replica: replica, Method: r.Method, Path: r.URL.Path,
			FetchSite: r.Header.Get("Sec-Fetch-Site"), Origin: r.Header.Get("Origin"),
			ACRH: r.Header.Get("Access-Control-Request-Headers"),
			BFFCookie: slices.ContainsFunc(r.Cookies(), func(c *http.Cookie) bool {
				return strings.HasPrefix(c.Name, "__Host-bff")
			}),
			CSRF:   r.Header.Get("X-CSRF") == "1",
			Status: rec.status, ACAO: rec.Header().Get("Access-Control-Allow-Origin"),
		})
	})
	front.Start()
	t.Cleanup(front.Close)

	// Another site: a plain page whose script (run by the test) tries the
	// API with the user's cookies.
	foreign := listenOn(t, "127.0.0.3", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>another site</title><p>Nothing to see here.</p>")
	}))
	s.foreign = foreign.URL
	return s
}

// discoverEndSession reads the OP's end_session_endpoint, so the one URL
// allowed to carry the ID token is recognised exactly.
func discoverEndSession(t *testing.T, issuer string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.EndSession == "" {
		t.Fatalf("OP discovery: no end_session_endpoint (%v)", err)
	}
	return doc.EndSession
}

// chromiumPath finds Debian's chromium, or another Chromium on PATH.
func chromiumPath() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startChromium starts headless Chromium at path with a fresh profile and
// returns the context of its first tab. The browser is closed in t.Cleanup,
// and the test fails if any process of it is left behind.
func startChromium(t *testing.T, path string) context.Context {
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
	marker := "BFF_BROWSER_E2E_RUN=" + rand.Text()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // the suite may run as root, where the sandbox refuses to start
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
