package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"bff/internal/bfftest"
	"bff/internal/config"
)

const cloudflareDir = "cloudflare"

type wranglerConfig struct {
	Name               string   `toml:"name"`
	Main               string   `toml:"main"`
	CompatibilityDate  string   `toml:"compatibility_date"`
	CompatibilityFlags []string `toml:"compatibility_flags"`
	Routes             []struct {
		Pattern  string `toml:"pattern"`
		ZoneName string `toml:"zone_name"`
	} `toml:"routes"`
	Build struct {
		Command string `toml:"command"`
	} `toml:"build"`
	Vars          map[string]any `toml:"vars"`
	WorkersDev    *bool          `toml:"workers_dev"`
	Observability struct {
		Enabled bool `toml:"enabled"`
	} `toml:"observability"`
}

// TestCloudflareWorker checks that the Worker's wrangler.toml, its module
// and its build script agree: wrangler builds what the module imports, the
// compatibility date is one the pinned workerd knows, the vars are bff's
// variables and none of them a secret, they configure bff together with
// the secrets, and the routes send bff's own paths to the Worker.
// internal/e2e/workerd runs the same files in workerd.
func TestCloudflareWorker(t *testing.T) {
	var w wranglerConfig
	meta, err := toml.DecodeFile(filepath.Join(cloudflareDir, "wrangler.toml"), &w)
	if err != nil {
		t.Fatal(err)
	}
	if un := meta.Undecoded(); len(un) > 0 {
		t.Errorf("wrangler.toml keys this test does not check: %v", un)
	}

	// On a workers.dev address the Worker would answer on an origin other
	// than BFF_PUBLIC_URL, where no sign-in can complete.
	if w.WorkersDev == nil || *w.WorkersDev {
		t.Error("workers_dev must be false: bff answers on BFF_PUBLIC_URL's host only")
	}
	if !w.Observability.Enabled {
		t.Error("observability is off: bff's log lines would go nowhere")
	}

	module := string(mustRead(t, filepath.Join(cloudflareDir, w.Main)))
	script := string(mustRead(t, filepath.Join(cloudflareDir, "build.sh")))
	if w.Build.Command != "bash build.sh" {
		t.Errorf("build command %q, want bash build.sh", w.Build.Command)
	}
	for _, want := range []string{"GOOS=js GOARCH=wasm", "./worker", `"$out/bff.wasm"`, "lib/wasm/wasm_exec.js", `"$out/wasm_exec.js"`} {
		if !strings.Contains(script, want) {
			t.Errorf("build.sh lacks %q", want)
		}
	}
	for _, want := range []string{`import "./build/wasm_exec.js";`, `from "./build/bff.wasm";`} {
		if !strings.Contains(module, want) {
			t.Errorf("%s lacks %s: it must load what build.sh writes into build/", w.Main, want)
		}
	}

	// workerd refuses a compatibility date later than its own release.
	date, err := time.Parse(time.DateOnly, w.CompatibilityDate)
	if err != nil {
		t.Fatalf("compatibility_date %q: %v", w.CompatibilityDate, err)
	}
	m := regexp.MustCompile(`(?m)^version=1\.(\d{8})\.\d+$`).FindStringSubmatch(string(mustRead(t, filepath.Join(repoRoot, ".ci", "install-workerd"))))
	if m == nil {
		t.Fatal(".ci/install-workerd pins no workerd version=1.YYYYMMDD.N")
	}
	if release, _ := time.Parse("20060102", m[1]); date.After(release) {
		t.Errorf("compatibility_date %s is after the pinned workerd's release %s", w.CompatibilityDate, release.Format(time.DateOnly))
	}

	env := map[string]string{}
	secrets := map[string]bool{}
	for _, v := range config.Variables() {
		secrets[v.Name] = v.Secret
	}
	for name, value := range w.Vars {
		s, ok := value.(string)
		isSecret, known := secrets[name]
		switch {
		case !known:
			t.Errorf("[vars] %s is not a variable bff reads", name)
		case isSecret:
			t.Errorf("[vars] %s is a secret: make it a Worker secret (wrangler secret put)", name)
		case !ok:
			t.Errorf("[vars] %s is not a string", name)
		}
		env[name] = s
	}
	// The secrets the header tells the operator to put.
	env["BFF_CLIENT_SECRET"] = "s3cret"
	env["BFF_COOKIE_KEYS"] = bfftest.NewKey(t).Encoded
	cfg, err := config.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatalf("the vars and the two secrets do not configure bff: %v", err)
	}

	// Every path bff answers on that the Worker must see.
	wanted := []string{"/auth/*", "/healthz", "/readyz"}
	for _, r := range cfg.Routes {
		wanted = append(wanted, r.Prefix+"*")
	}
	routed := map[string]bool{}
	for _, r := range w.Routes {
		host, path, _ := strings.Cut(r.Pattern, "/")
		if host != cfg.PublicURL.Host || !strings.HasSuffix(host, "."+r.ZoneName) {
			t.Errorf("route %q in zone %q: want the host of BFF_PUBLIC_URL, %s, in its zone", r.Pattern, r.ZoneName, cfg.PublicURL.Host)
		}
		routed["/"+path] = true
	}
	for _, p := range wanted {
		if !routed[p] {
			t.Errorf("no route sends %s%s to the Worker", cfg.PublicURL.Host, p)
		}
	}
	if _, err := os.Stat(filepath.Join(cloudflareDir, "build")); err == nil {
		t.Log("deploy/cloudflare/build/ exists: a local build; it is ignored by git")
	}
}
