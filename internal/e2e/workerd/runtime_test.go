package workerd

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/BurntSushi/toml"

	"bff/internal/bfftest"
	"bff/internal/bfftest/kit"
)

// cloudflare is where the Worker's deployment files live, from the repo root.
const cloudflare = "deploy/cloudflare"

// Build is the Worker as build.sh makes it for wrangler: its files, and
// the sizes of the WebAssembly module.
type Build struct {
	Dir              string // build.sh's output: bff.wasm, wasm_exec.js
	WasmBytes        int64
	WasmGzipBytes    int64 // gzip at its default level, as wrangler reports the upload
	CompatDate       string
	CompatFlags      []string
	WranglerVarNames []string
}

// buildWorker runs deploy/cloudflare/build.sh with the test's toolchain and
// reads the compatibility settings the deployment declares in
// wrangler.toml, so that workerd runs what wrangler would deploy.
func buildWorker(t *testing.T) Build {
	t.Helper()
	root := bfftest.RepoRoot(t)
	b := Build{Dir: filepath.Join(t.TempDir(), "build")}
	cmd := exec.Command("bash", filepath.Join(root, cloudflare, "build.sh"), b.Dir)
	cmd.Env = append(bfftest.Offline(os.Environ()), "GO="+bfftest.GoCmd(), "VERSION="+bfftest.Version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s(the test does not download modules: run go mod download first)", err, out)
	}
	wasm, err := os.ReadFile(filepath.Join(b.Dir, "bff.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	b.WasmBytes = int64(len(wasm))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(wasm)
	zw.Close()
	b.WasmGzipBytes = int64(gz.Len())

	var wrangler struct {
		CompatibilityDate  string            `toml:"compatibility_date"`
		CompatibilityFlags []string          `toml:"compatibility_flags"`
		Vars               map[string]string `toml:"vars"`
	}
	if _, err := toml.DecodeFile(filepath.Join(root, cloudflare, "wrangler.toml"), &wrangler); err != nil {
		t.Fatalf("wrangler.toml: %v", err)
	}
	b.CompatDate, b.CompatFlags = wrangler.CompatibilityDate, wrangler.CompatibilityFlags
	for name := range wrangler.Vars {
		b.WranglerVarNames = append(b.WranglerVarNames, name)
	}
	slices.Sort(b.WranglerVarNames)
	return b
}

// installWorkerd returns the path of workerd, installed from npm at the
// version .ci/install-workerd pins. Without npm the test is skipped: CI
// has it.
func installWorkerd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: this test builds the Worker and runs it in workerd")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			bfftest.Missing(t, "%s is not installed, so workerd cannot be installed from npm and the Worker build is not tested (CI installs them)", tool)
		}
	}
	out, err := exec.Command("bash", filepath.Join(bfftest.RepoRoot(t), ".ci", "install-workerd")).Output()
	if err != nil {
		t.Fatalf(".ci/install-workerd: %v\n%s", err, stderrOf(err))
	}
	return strings.TrimSpace(string(out))
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// Workerd is the Worker running in workerd on its own loopback port.
type Workerd struct {
	*bfftest.Process
	URL     string        // http://127.0.0.1:P, the Worker's public origin
	Started time.Duration // from exec to the socket accepting connections
}

// clockModule wraps the Worker's module with the test's clock: real time
// plus an offset that GET /__clock?advance=MS moves forward, as
// bfftest.Clock does for an in-process bff. The Go runtime reads the wall
// clock through `new Date()`; the in-process OP stamps real time into its
// tokens, so moving this clock makes them expire without waiting. The
// path never reaches bff.
const clockModule = `import worker from "./worker.mjs";

const RealDate = Date;
let offset = 0;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }
  static now() {
    return RealDate.now() + offset;
  }
};

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__clock") {
      offset += Number(url.searchParams.get("advance"));
      return new Response(String(offset));
    }
    return worker.fetch(request, env, ctx);
  },
};
`

// config is workerd's configuration: the Worker's modules as wrangler
// would bundle them, its bindings, and an outbound network limited to
// loopback (workerd's default allows public addresses only).
var config = template.Must(template.New("config").Funcs(template.FuncMap{"quote": capnpString}).Parse(`using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "bff", worker = .bff),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = {{quote .Addr}}, http = (), service = "bff")],
);

const bff :Workerd.Worker = (
  modules = [
    (name = "clock.mjs", esModule = embed "clock.mjs"),
    (name = "worker.mjs", esModule = embed "worker.mjs"),
    (name = "build/wasm_exec.js", esModule = embed "build/wasm_exec.js"),
    (name = "build/bff.wasm", wasm = embed "build/bff.wasm"),
  ],
  compatibilityDate = {{quote .Build.CompatDate}},
  compatibilityFlags = [{{range $i, $f := .Build.CompatFlags}}{{if $i}}, {{end}}{{quote $f}}{{end}}],
  bindings = [
{{- range $name, $value := .Env}}
    (name = {{quote $name}}, text = {{quote $value}}),
{{- end}}
{{- range $name, $value := .JSON}}
    (name = {{quote $name}}, json = {{quote $value}}),
{{- end}}
  ],
  globalOutbound = "loopback",
);
`))

// capnpString quotes s for Cap'n Proto's text format, which takes the
// escapes strconv.Quote writes for printable ASCII.
func capnpString(s string) (string, error) {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return "", fmt.Errorf("%q: only printable ASCII goes into the workerd config", s)
		}
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`, nil
}

// startWorkerd lays out the Worker's modules beside a config with env as
// its text bindings and json as its JSON ones and runs `workerd serve` on addr until the test ends.
func startWorkerd(t *testing.T, bin string, b Build, addr string, env, json map[string]string) *Workerd {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "build"), os.DirFS(b.Dir)); err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(filepath.Join(bfftest.RepoRoot(t), cloudflare, "worker.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	var conf bytes.Buffer
	if err := config.Execute(&conf, map[string]any{"Addr": addr, "Build": b, "Env": env, "JSON": json}); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"worker.mjs": module, "clock.mjs": []byte(clockModule), "config.capnp": conf.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	p := bfftest.StartProcess(t, bin, nil, "serve", filepath.Join(dir, "config.capnp"), "--verbose")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if exited, err := p.Exited(); exited || time.Now().After(deadline) {
			t.Fatalf("workerd not listening on %s (exited %v: %v):\nstdout:\n%s\nstderr:\n%s", addr, exited, err, p.Stdout.String(), p.Stderr.String())
		}
	}
	return &Workerd{Process: p, URL: "http://" + addr, Started: time.Since(start)}
}

// Rig is a deployment on loopback with bff in workerd: the Worker, the
// demo OP and a recording upstream behind /api/ (bff maps it to /v1).
type Rig struct {
	*Workerd
	Build    Build
	OP       *bfftest.OP
	Upstream *bfftest.Upstream
	Key      bfftest.Key
	Public   *url.URL
}

// RigOptions shape a Rig. The zero value is the demo OP, the echo
// upstream, and bff's required variables plus BFF_ROUTES as bindings.
type RigOptions struct {
	OP       bfftest.OPOptions
	Upstream http.Handler      // nil: the echo answer
	Env      map[string]string // added to the bindings; "" removes one
	// JSON are bindings of JSON values, as wrangler makes of a [vars]
	// value that is not a string.
	JSON map[string]string
}

// startRig builds the Worker and starts it in workerd beside an OP and an
// upstream, with bff's environment as the Worker's bindings, logging at
// debug level.
func startRig(t *testing.T, o RigOptions) *Rig {
	t.Helper()
	bin := installWorkerd(t)
	r := &Rig{Build: buildWorker(t), Key: bfftest.NewKey(t)}
	// The address comes first: the OP registers it as bff's redirect URI.
	addr := kit.ClosedPort(t)
	r.Public = bfftest.MustURL(t, "http://"+addr)
	r.OP = bfftest.StartOP(t, r.Public, o.OP)
	r.Upstream = bfftest.NewUpstream(t, o.Upstream)
	env := bfftest.Env(r.OP, r.Public, r.Key)
	env["BFF_ROUTES"] = "/api/=" + r.Upstream.URL + "/v1"
	env["BFF_LOG_LEVEL"] = "debug"
	for k, v := range o.Env {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	r.Workerd = startWorkerd(t, bin, r.Build, addr, env, o.JSON)
	return r
}

// Logs is everything workerd printed: the Worker's log lines among them.
func (r *Rig) Logs() string { return r.Stdout.String() + r.Stderr.String() }

// SignIn signs client in through the OP's form.
func (r *Rig) SignIn(t *testing.T, client *http.Client) {
	t.Helper()
	login := bfftest.Get(t, client, r.URL, "/auth/login?returnTo=/")
	if login.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s\nworkerd:\n%s", login.StatusCode, login.Text, r.Stderr.String())
	}
	cb := r.OP.Login(t, client, login.Header.Get("Location"))
	if done := bfftest.Get(t, client, r.URL, cb.RequestURI()); done.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", done.StatusCode, done.Text)
	}
}

var setCookieName = regexp.MustCompile(`^(__Host-bff-session(?:\.(\d+))?|__Host-bff-login-[A-Za-z0-9_-]+)=`)

// CPUTime is the processor time workerd has used so far: Main is its main
// thread, which runs the isolate (and workerd's own HTTP handling, so it
// bounds from above what a Worker's CPU limit counts), All adds V8's
// background threads, which compile the WebAssembly module and collect
// garbage.
type CPUTime struct{ Main, All time.Duration }

// CPU reads the kernel's scheduler statistics of each of workerd's
// threads; false where /proc does not have them.
func (w *Workerd) CPU() (CPUTime, bool) {
	var c CPUTime
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", w.Pid()))
	if err != nil || len(tasks) == 0 {
		return c, false
	}
	main := fmt.Sprintf("/proc/%d/task/%d/schedstat", w.Pid(), w.Pid())
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // a thread that has ended
		}
		var ns int64
		if _, err := fmt.Sscan(string(b), &ns); err != nil {
			return c, false
		}
		c.All += time.Duration(ns)
		if task == main {
			c.Main = time.Duration(ns)
		}
	}
	return c, true
}

// Since is the CPU time used from c to now, per request over n requests.
func (c CPUTime) Since(w *Workerd, n int) (CPUTime, bool) {
	now, ok := w.CPU()
	return CPUTime{Main: (now.Main - c.Main) / time.Duration(n), All: (now.All - c.All) / time.Duration(n)}, ok
}

func (c CPUTime) String() string {
	return fmt.Sprintf("main thread %v, all threads %v", c.Main.Round(10*time.Microsecond), c.All.Round(10*time.Microsecond))
}
