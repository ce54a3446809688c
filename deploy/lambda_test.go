package deploy

import (
	"archive/zip"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"bff/internal/bfftest"
	"bff/internal/config"
)

const (
	lambdaTemplate = "lambda/template.yaml"
	// lambdaTask is where Lambda unpacks a function's zip.
	lambdaTask = "/var/task/"
)

// lambdaFunction is the template's one function, and the architecture
// name its zip carries (GOARCH).
func lambdaFunction(t *testing.T) (fn samFunction, goarch string) {
	t.Helper()
	var tmpl struct {
		Transform string                 `json:"Transform"`
		Resources map[string]samResource `json:"Resources"`
	}
	mustUnmarshal(t, lambdaTemplate, string(mustRead(t, lambdaTemplate)), &tmpl)
	var fns []samFunction
	for _, r := range tmpl.Resources {
		if r.Type == "AWS::Serverless::Function" {
			fns = append(fns, r.Properties)
		}
	}
	if len(fns) != 1 || !strings.HasPrefix(tmpl.Transform, "AWS::Serverless") {
		t.Fatalf("%s: %d serverless functions, transform %q; want one function, SAM", lambdaTemplate, len(fns), tmpl.Transform)
	}
	fn = fns[0]
	switch {
	case len(fn.Architectures) != 1:
		t.Fatalf("architectures %q: want one", fn.Architectures)
	case fn.Architectures[0] == "arm64":
		goarch = "arm64"
	case fn.Architectures[0] == "x86_64":
		goarch = "amd64"
	default:
		t.Fatalf("architecture %q", fn.Architectures[0])
	}
	return fn, goarch
}

type samResource struct {
	Type       string      `json:"Type"`
	Properties samFunction `json:"Properties"`
}

type samFunction struct {
	CodeUri           string   `json:"CodeUri"`
	Handler           string   `json:"Handler"`
	Runtime           string   `json:"Runtime"`
	Architectures     []string `json:"Architectures"`
	FunctionUrlConfig struct {
		AuthType   string `json:"AuthType"`
		InvokeMode string `json:"InvokeMode"`
	} `json:"FunctionUrlConfig"`
	Environment struct {
		Variables map[string]any `json:"Variables"`
	} `json:"Environment"`
}

// TestLambdaTemplate: the SAM template runs the packaged bootstrap on
// provided.al2023 behind a function URL whose invoke mode bff is told, with
// the discovery document the zip carries, secrets from Secrets Manager,
// and an environment bff accepts.
func TestLambdaTemplate(t *testing.T) {
	fn, goarch := lambdaFunction(t)
	if fn.Runtime != "provided.al2023" || fn.Handler != "bootstrap" {
		t.Errorf("runtime %q, handler %q; want provided.al2023 and bootstrap", fn.Runtime, fn.Handler)
	}
	if want := "bff-lambda-" + goarch + ".zip"; path.Base(fn.CodeUri) != want {
		t.Errorf("CodeUri %q: want the packager's %s for %s", fn.CodeUri, want, fn.Architectures[0])
	}
	vars := fn.Environment.Variables
	if mode := fn.FunctionUrlConfig.InvokeMode; vars["BFF_LAMBDA_INVOKE_MODE"] != mode || mode == "" {
		t.Errorf("the function URL's InvokeMode is %q, BFF_LAMBDA_INVOKE_MODE %v: they must agree", mode, vars["BFF_LAMBDA_INVOKE_MODE"])
	}
	if f, _ := vars["BFF_DISCOVERY_FILE"].(string); f != lambdaTask+"openid-configuration.json" {
		t.Errorf("BFF_DISCOVERY_FILE = %v, want the packaged document in %s", vars["BFF_DISCOVERY_FILE"], lambdaTask)
	}
	for _, name := range []string{"BFF_CLIENT_SECRET", "BFF_COOKIE_KEYS"} {
		if s := fmt.Sprint(vars[name]); !strings.Contains(s, "{{resolve:secretsmanager:") {
			t.Errorf("%s = %s: want a Secrets Manager reference, never a value in the template", name, s)
		}
	}
	for _, name := range []string{"BFF_LISTEN", "BFF_METRICS_LISTEN"} {
		if _, ok := vars[name]; ok {
			t.Errorf("%s is set, but nothing listens under Lambda", name)
		}
	}

	// With its parameters filled in, bff accepts the environment.
	dir := t.TempDir()
	issuer := "https://login.example.com/realms/acme"
	doc := filepath.Join(dir, "openid-configuration.json")
	writeDiscovery(t, doc, issuer)
	filled := map[string]string{
		"BFF_ISSUER": issuer, "BFF_CLIENT_ID": "bff", "BFF_CLIENT_SECRET": "s3cret",
		"BFF_COOKIE_KEYS": bfftest.NewKey(t).Encoded, "BFF_PUBLIC_URL": "https://abc.lambda-url.eu-west-1.on.aws",
		"BFF_ROUTES": "/api/=https://orders.example.com/v1", "BFF_DISCOVERY_FILE": doc,
	}
	env := map[string]string{}
	for name, v := range vars {
		s, literal := v.(string)
		switch {
		case filled[name] != "":
			env[name] = filled[name]
		case literal:
			env[name] = s
		default:
			t.Errorf("%s = %v: no value to test it with", name, v)
		}
	}
	if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
		t.Errorf("the template's environment: %v", err)
	}
}

// TestLambdaPackage runs the packager for both architectures: each zip
// holds an executable, static bootstrap for its machine, and the
// discovery document.
func TestLambdaPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: this test cross-compiles bff")
	}
	dir := t.TempDir()
	doc := filepath.Join(dir, "doc.json")
	writeDiscovery(t, doc, "https://login.example.com")
	run := exec.Command(bfftest.GoCmd(), "run", "./deploy/lambda", "-out", filepath.Join(dir, "out"), "-version", "test", "-discovery", doc)
	run.Dir = repoRoot
	run.Env = append(bfftest.Offline(os.Environ()), "PATH="+filepath.Dir(bfftest.GoCmd())+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("go run ./deploy/lambda: %v\n%s", err, out)
	}
	for arch, machine := range map[string]elf.Machine{"arm64": elf.EM_AARCH64, "amd64": elf.EM_X86_64} {
		t.Run(arch, func(t *testing.T) {
			zipPath := filepath.Join(dir, "out", "bff-lambda-"+arch+".zip")
			zr, err := zip.OpenReader(zipPath)
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			files := map[string]*zip.File{}
			for _, f := range zr.File {
				files[f.Name] = f
			}
			boot, meta := files["bootstrap"], files["openid-configuration.json"]
			if len(files) != 2 || boot == nil || meta == nil {
				t.Fatalf("%s holds %v; want bootstrap and openid-configuration.json", zipPath, zr.File)
			}
			if boot.Mode()&0o111 == 0 {
				t.Errorf("bootstrap mode %v: Lambda needs it executable", boot.Mode())
			}
			if b := unzipped(t, meta); !bytes.Equal(b, mustRead(t, doc)) {
				t.Errorf("the packaged discovery document differs from the one given")
			}
			bin := filepath.Join(t.TempDir(), "bootstrap")
			if err := os.WriteFile(bin, unzipped(t, boot), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machine || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
				t.Errorf("bootstrap is for %v, want %v", f.Machine, machine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("bootstrap is dynamically linked; provided.al2023 needs none, but the image must not either")
				}
			}
			t.Logf("%s: %.1f MiB zipped, bootstrap %.1f MiB", filepath.Base(zipPath), float64(fileSize(t, zipPath))/(1<<20), float64(boot.UncompressedSize64)/(1<<20))
			if arch == runtime.GOARCH {
				if code, stdout, _ := bfftest.Run(t, bin, nil, "version"); code != 0 || strings.TrimSpace(stdout) != "bff test" {
					t.Errorf("bootstrap version: %d %q", code, stdout)
				}
			}
		})
	}
}

func writeDiscovery(t *testing.T, file, issuer string) {
	t.Helper()
	doc := `{"issuer":"` + issuer + `","authorization_endpoint":"` + issuer + `/auth","token_endpoint":"` + issuer + `/token","jwks_uri":"` + issuer + `/certs"}`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
}

func unzipped(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
