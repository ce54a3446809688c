package config

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

const testKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"

func goodEnv() map[string]string {
	return map[string]string{
		"BFF_ISSUER":        "https://login.example.com/realms/acme",
		"BFF_CLIENT_ID":     "spa",
		"BFF_CLIENT_SECRET": "s3cr3t-value",
		"BFF_PUBLIC_URL":    "https://app.example.com",
		"BFF_COOKIE_KEYS":   testKey,
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := Load(env(goodEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.SessionMaxAge != 12*time.Hour || c.SessionIdle != time.Hour ||
		strings.Join(c.Scopes, " ") != "openid profile email offline_access" || c.ExposeToken ||
		c.AuthRatePerMinute != 30 || len(c.Routes) != 0 || c.PublicURL.String() != "https://app.example.com" {
		t.Errorf("defaults: %+v", c)
	}
	if c.SessionMaxAge != DefaultSessionMaxAge || c.SessionIdle != DefaultSessionIdle {
		t.Errorf("session lifetimes %v, %v; want the defaults %v, %v", c.SessionMaxAge, c.SessionIdle, DefaultSessionMaxAge, DefaultSessionIdle)
	}
	for _, want := range []string{"BFF_SESSION_MAX_AGE  (default 12h)", "BFF_SESSION_IDLE  (default 1h)"} {
		if !strings.Contains(Help(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	m := goodEnv()
	m["PORT"] = "9000"
	if c, _ := Load(env(m)); c.Listen != ":9000" {
		t.Errorf("PORT ignored: %q", c.Listen)
	}
	m["BFF_LISTEN"] = "127.0.0.1:7000"
	if c, _ := Load(env(m)); c.Listen != "127.0.0.1:7000" {
		t.Errorf("BFF_LISTEN ignored: %q", c.Listen)
	}
}

func TestConfigSecretFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := goodEnv()
	delete(m, "BFF_CLIENT_SECRET")
	m["BFF_CLIENT_SECRET_FILE"] = file
	c, err := Load(env(m))
	if err != nil || c.ClientSecret != "from-file" {
		t.Fatalf("secret file: %q %v", c.ClientSecret, err)
	}
	m["BFF_CLIENT_SECRET"] = "inline"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "BFF_CLIENT_SECRET") {
		t.Errorf("both set: %v", err)
	}
	delete(m, "BFF_CLIENT_SECRET")
	m["BFF_CLIENT_SECRET_FILE"] = filepath.Join(dir, "missing")
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "BFF_CLIENT_SECRET_FILE") {
		t.Errorf("missing file: %v", err)
	}
}

// TestConfigNamesEveryBadVariable sets every variable wrong at once: one
// error must name each of them, and repeat none of the secret values. The
// lists hold two bad entries each, and every line of the message names the
// variable it is about.
func TestConfigNamesEveryBadVariable(t *testing.T) {
	bad := map[string]string{
		"BFF_ISSUER":            "http://idp.example.com",
		"BFF_CLIENT_SECRET":     "", // with BFF_CLIENT_ID empty: both missing
		"BFF_PUBLIC_URL":        "http://app.example.com",
		"BFF_COOKIE_KEYS":       "c2VjcmV0LWtleS1tYXRlcmlhbC10b28tc2hvcnQ",
		"BFF_ROUTES":            "/api=ftp://x,/b=ftp://y",
		"BFF_LISTEN":            "nope",
		"BFF_SCOPES":            "profile email",
		"BFF_STATIC_DIR":        "/does/not/exist",
		"BFF_POST_LOGOUT_URL":   "//evil.example",
		"BFF_SESSION_MAX_AGE":   "forever",
		"BFF_SESSION_IDLE":      "-1h",
		"BFF_EXPOSE_TOKEN":      "yes please",
		"BFF_METRICS_LISTEN":    "nope",
		"BFF_LOG_LEVEL":         "loud",
		"BFF_TRUSTED_PROXIES":   "10.0.0.0/99,nope",
		"BFF_AUTH_RATE_LIMIT":   "-3",
		"BFF_CORS_ORIGINS":      "*,ftp://x",
		"BFF_AUTH_PARAMS":       "audience=x&state=forced&nonce=n",
		"BFF_PROTECTED_PATHS":   "app,other",
		"BFF_SPA_FALLBACK":      "sometimes",
		"BFF_CSP":               "default-src 'self'\r\nX-Injected: 1",
		"BFF_ERROR_URL":         "javascript:alert(1)",
		"BFF_REDIS_URL":         "memcached://:hunter2@cache:11211",
		"BFF_SESSION_STORE":     "disk",
		"BFF_MAX_COOKIE_CHUNKS": "0",
	}
	_, err := Load(env(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for name := range bad {
		if !strings.Contains(msg, name) {
			t.Errorf("error does not name %s", name)
		}
	}
	lines := strings.Split(msg, "\n")
	if len(lines) < len(bad)+5 {
		t.Errorf("%d lines for %d bad variables, five of them lists of two bad entries", len(lines), len(bad))
	}
	known := map[string]bool{}
	for _, v := range Variables() {
		known[v.Name] = true
	}
	for _, line := range lines[1:] { // after "invalid configuration:"
		name, _, _ := strings.Cut(line, ":")
		if name, _, _ = strings.Cut(name, " or "); !known[name] {
			t.Errorf("a line names no variable: %q", line)
		}
	}
	for _, want := range []string{"BFF_CLIENT_ID", "BFF_CLIENT_SECRET or BFF_CLIENT_SECRET_FILE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s", want)
		}
	}
	if strings.Contains(msg, bad["BFF_COOKIE_KEYS"]) || strings.Contains(msg, "hunter2") {
		t.Error("the error repeats a secret")
	}
	t.Log(msg)
}

func TestConfigPublicURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://app.example.com":      true,
		"https://app.example.com/":     true,
		"http://localhost:8080":        true,
		"http://127.0.0.1:8080":        true,
		"http://[::1]:8080":            true,
		"http://app.example.com":       false,
		"https://app.example.com/path": false,
		"https://u:p@app.example.com":  false,
		"app.example.com":              false,
	} {
		m := goodEnv()
		m["BFF_PUBLIC_URL"] = url
		_, err := Load(env(m))
		if (err == nil) != ok {
			t.Errorf("BFF_PUBLIC_URL=%q: err %v, want ok=%v", url, err, ok)
		}
	}
}

// TestHelp: `bff help` comes from the same table the loader reads, so
// every variable appears with its default, and every default is one the
// loader accepts.
func TestHelp(t *testing.T) {
	help := Help()
	for _, v := range Variables() {
		line := ""
		for l := range strings.SplitSeq(help, "\n") {
			if strings.HasPrefix(l, "  "+v.Name+" ") || l == "  "+v.Name {
				line = l
			}
		}
		if line == "" {
			t.Errorf("help does not list %s", v.Name)
			continue
		}
		if v.Default != "" && !strings.Contains(line, v.Default) {
			t.Errorf("help line of %s lacks its default %q: %q", v.Name, v.Default, line)
		}
		if v.Secret && !strings.Contains(line, v.Name+"_FILE") {
			t.Errorf("help line of %s lacks its file form: %q", v.Name, line)
		}
		if v.Default != "" {
			m := goodEnv()
			m[v.Name] = v.Default
			if _, err := Load(env(m)); err != nil {
				t.Errorf("%s=%q, its own default, is refused: %v", v.Name, v.Default, err)
			}
		}
	}
}

// TestSecretFiles: every secret variable has a _FILE form holding the
// same text (one trailing newline ignored); both forms at once, or a file
// that cannot be read, is an error naming the variable.
func TestSecretFiles(t *testing.T) {
	dir := t.TempDir()
	for _, v := range Variables() {
		if !v.Secret {
			continue
		}
		t.Run(v.Name, func(t *testing.T) {
			good := goodEnv()
			if good[v.Name] == "" {
				good[v.Name] = "redis://:s3cr3t@127.0.0.1:6379/0" // the one optional secret
			}
			value := good[v.Name]
			file := filepath.Join(dir, v.Name)
			if err := os.WriteFile(file, []byte(value+"\r\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			m := maps.Clone(good)
			delete(m, v.Name)
			m[v.Name+"_FILE"] = file
			fromFile, err := Load(env(m))
			if err != nil {
				t.Fatalf("%s_FILE: %v", v.Name, err)
			}
			inline, _ := Load(env(good))
			if fmt.Sprint(fromFile) != fmt.Sprint(inline) {
				t.Errorf("%s_FILE gives another configuration than %s", v.Name, v.Name)
			}
			m[v.Name] = value
			if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), v.Name+", "+v.Name+"_FILE") {
				t.Errorf("both forms: %v", err)
			}
			delete(m, v.Name)
			m[v.Name+"_FILE"] = filepath.Join(dir, "missing")
			if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), v.Name+"_FILE") || strings.Contains(err.Error(), value) {
				t.Errorf("unreadable file: %v", err)
			}
		})
	}
}

func TestProtectedPaths(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"/":               "/",
		"/app/, /admin":   "/app/ /admin",
		"/app/,/settings": "/app/ /settings",
	} {
		m := goodEnv()
		m["BFF_PROTECTED_PATHS"] = in
		c, err := Load(env(m))
		if err != nil || strings.Join(c.ProtectedPaths, " ") != want {
			t.Errorf("BFF_PROTECTED_PATHS=%q: %q, %v; want %q", in, c.ProtectedPaths, err, want)
		}
	}
	for _, bad := range []string{"app", "/app/,", "//evil", "/auth/", "/auth/x", "/auth", "/healthz", "/a/../b", "/a?b", "/a%2fb", "/a\tb", "/api/x"} {
		m := goodEnv()
		m["BFF_PROTECTED_PATHS"] = bad
		m["BFF_ROUTES"] = "/api/=http://orders"
		if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "BFF_PROTECTED_PATHS") {
			t.Errorf("BFF_PROTECTED_PATHS=%q: %v, want an error naming it", bad, err)
		}
	}
}

func TestRedisURL(t *testing.T) {
	for in, ok := range map[string]bool{
		"":                                  true,
		"redis://127.0.0.1:6379":            true,
		"redis://cache:6379/2":              true,
		"rediss://user:p%40ss@cache:6380/0": true,
		"redis://cache":                     true,
		"http://cache:6379":                 false,
		"redis://:6379":                     false,
		"redis://cache:6379/two":            false,
		"redis://cache:99999":               false,
		"redis://cache:6379?db=1":           false,
		"cache:6379":                        false,
	} {
		m := goodEnv()
		m["BFF_REDIS_URL"] = in
		_, err := Load(env(m))
		if (err == nil) != ok {
			t.Errorf("BFF_REDIS_URL=%q: %v, want ok=%v", in, err, ok)
		}
		if err != nil && strings.Contains(err.Error(), "p%40ss") {
			t.Error("the error repeats the password")
		}
	}
	m := goodEnv()
	m["BFF_SESSION_STORE"] = "redis"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "BFF_SESSION_STORE") {
		t.Errorf("BFF_SESSION_STORE=redis without Redis: %v", err)
	}
}
