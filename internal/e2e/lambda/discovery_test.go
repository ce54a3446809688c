package lambda

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bff/internal/bfftest"
)

// TestDiscoveryFileAtStart runs the binary with BFF_DISCOVERY_FILE. With
// the OP's own document bff is ready from its first request, though the OP
// answers nothing but 503 by then; a document that does not parse, or
// names another issuer, stops the start (exit 1, and under the emulator a
// failed invocation) with an error naming the variable.
func TestDiscoveryFileAtStart(t *testing.T) {
	t.Parallel()
	bin := bfftest.Build(t)
	op := bfftest.StartOP(t, public, bfftest.OPOptions{})
	env := bfftest.Env(op, public, bfftest.NewKey(t))
	env["BFF_LISTEN"] = "127.0.0.1:0"
	env["BFF_DISCOVERY_FILE"] = op.DiscoveryFile(t)
	op.Down.Store(true)

	addr, _ := bfftest.Start(t, bin, env)
	c, _ := bfftest.NewClient(t)
	if r := bfftest.Get(t, c, "http://"+addr, "/readyz"); r.StatusCode != http.StatusOK {
		t.Errorf("/readyz with the discovery file and the OP down: %d %s", r.StatusCode, r.Text)
	}
	if r := bfftest.Get(t, c, "http://"+addr, "/auth/login"); r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), op.Issuer) {
		t.Errorf("login with the discovery file and the OP down: %d %q", r.StatusCode, r.Header.Get("Location"))
	}

	dir := t.TempDir()
	for name, doc := range map[string]string{
		"another issuer": strings.ReplaceAll(readFile(t, env["BFF_DISCOVERY_FILE"]), op.Issuer, "https://other.example.com"),
		"not JSON":       "<html>404</html>",
		"no endpoints":   `{"issuer":"` + op.Issuer + `"}`,
	} {
		bad := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(bad, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		env := with(env, "BFF_DISCOVERY_FILE", bad)
		if code, _, stderr := bfftest.Run(t, bin, env); code != 1 || !strings.Contains(stderr, "BFF_DISCOVERY_FILE") {
			t.Errorf("%s: exit %d, %q; want 1 and an error naming BFF_DISCOVERY_FILE", name, code, stderr)
		}
		l := bfftest.StartLambda(t, bin, env)
		if _, err := l.Invoke([]byte(`{}`)); err == nil {
			t.Errorf("%s: the function served", name)
		}
		if out := l.Stdout.String() + l.Stderr.String(); !strings.Contains(out, "BFF_DISCOVERY_FILE") {
			t.Errorf("%s: the function's output does not name BFF_DISCOVERY_FILE:\n%s", name, out)
		}
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// with is env with name set to value.
func with(env map[string]string, name, value string) map[string]string {
	out := map[string]string{name: value}
	for k, v := range env {
		if k != name {
			out[k] = v
		}
	}
	return out
}
