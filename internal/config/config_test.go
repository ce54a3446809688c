package config

import (
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
// error must name each of them, and repeat none of the secret values.
func TestConfigNamesEveryBadVariable(t *testing.T) {
	bad := map[string]string{
		"BFF_ISSUER":          "http://idp.example.com",
		"BFF_CLIENT_SECRET":   "", // with BFF_CLIENT_ID empty: both missing
		"BFF_PUBLIC_URL":      "http://app.example.com",
		"BFF_COOKIE_KEYS":     "c2VjcmV0LWtleS1tYXRlcmlhbC10b28tc2hvcnQ",
		"BFF_ROUTES":          "/api=ftp://x",
		"BFF_LISTEN":          "nope",
		"BFF_SCOPES":          "profile email",
		"BFF_STATIC_DIR":      "/does/not/exist",
		"BFF_POST_LOGOUT_URL": "//evil.example",
		"BFF_SESSION_MAX_AGE": "forever",
		"BFF_SESSION_IDLE":    "-1h",
		"BFF_EXPOSE_TOKEN":    "yes please",
		"BFF_METRICS_LISTEN":  "nope",
		"BFF_LOG_LEVEL":       "loud",
		"BFF_TRUSTED_PROXIES": "10.0.0.0/99",
		"BFF_AUTH_RATE_LIMIT": "-3",
		"BFF_CORS_ORIGINS":    "*",
		"BFF_AUTH_PARAMS":     "audience=x&state=forced",
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
	for _, want := range []string{"BFF_CLIENT_ID", "BFF_CLIENT_SECRET or BFF_CLIENT_SECRET_FILE"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not name %s", want)
		}
	}
	if strings.Contains(msg, bad["BFF_COOKIE_KEYS"]) {
		t.Error("the error repeats the cookie key")
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
