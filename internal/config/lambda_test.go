package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiscoveryFile: BFF_DISCOVERY_FILE holds the IdP's discovery
// document; one that cannot be read, does not parse, lacks an endpoint or
// names another issuer than BFF_ISSUER stops the start with an error naming
// the variable.
func TestDiscoveryFile(t *testing.T) {
	dir := t.TempDir()
	issuer := goodEnv()["BFF_ISSUER"]
	doc := func(iss string) string {
		return `{"issuer":"` + iss + `","authorization_endpoint":"` + iss + `/auth","token_endpoint":"` + iss + `/token","jwks_uri":"` + iss + `/certs"}`
	}
	for i, c := range []struct {
		content string
		wantErr string // "" for none
	}{
		{doc(issuer), ""},
		{doc(issuer + "/"), "not BFF_ISSUER"},
		{doc("https://other.example.com"), "not BFF_ISSUER"},
		{`{"issuer":"` + issuer + `"}`, "token_endpoint"},
		{"<html>not found</html>", "not a discovery document"},
		{"", "not a discovery document"},
	} {
		file := filepath.Join(dir, "doc"+string(rune('a'+i)))
		if err := os.WriteFile(file, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		m := goodEnv()
		m["BFF_DISCOVERY_FILE"] = file
		cfg, err := Load(env(m))
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%.60s: %v", c.content, err)
		case c.wantErr == "" && (cfg.Discovery == nil || cfg.Discovery.Token != issuer+"/token"):
			t.Errorf("%.60s: discovery %+v", c.content, cfg.Discovery)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), "BFF_DISCOVERY_FILE") || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%.60s: %v, want an error naming BFF_DISCOVERY_FILE: %s", c.content, err, c.wantErr)
		}
	}
	m := goodEnv()
	m["BFF_DISCOVERY_FILE"] = filepath.Join(dir, "missing")
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "BFF_DISCOVERY_FILE: cannot read") {
		t.Errorf("missing file: %v", err)
	}
	if c, _ := Load(env(goodEnv())); c.Discovery != nil {
		t.Error("a discovery document without BFF_DISCOVERY_FILE")
	}
}

func TestLambdaInvokeMode(t *testing.T) {
	for v, buffered := range map[string]bool{"": false, "RESPONSE_STREAM": false, "response_stream": false, "BUFFERED": true, "Buffered": true} {
		m := goodEnv()
		m["BFF_LAMBDA_INVOKE_MODE"] = v
		c, err := Load(env(m))
		if err != nil || c.LambdaBuffered != buffered {
			t.Errorf("BFF_LAMBDA_INVOKE_MODE=%q: buffered %v, %v; want %v", v, c != nil && c.LambdaBuffered, err, buffered)
		}
	}
	m := goodEnv()
	m["BFF_LAMBDA_INVOKE_MODE"] = "STREAM"
	if _, err := Load(env(m)); err == nil || !strings.Contains(err.Error(), "BFF_LAMBDA_INVOKE_MODE") {
		t.Errorf("STREAM: %v", err)
	}
}
