package bfftest

import (
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"bff/cookie"
	"bff/internal/config"
	"bff/oidc"
)

// Key is a fresh cookie key as BFF_COOKIE_KEYS spells it, with every other
// encoding of it: the secrets that must never leave the process.
type Key struct {
	Raw     []byte
	Encoded string   // base64url, as `bff keygen` prints it
	Secrets []string // Encoded, and the key in standard base64
}

// NewKey returns a fresh random cookie key.
func NewKey(t testing.TB) Key {
	t.Helper()
	raw := make([]byte, cookie.KeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString(raw)
	return Key{Raw: raw, Encoded: enc, Secrets: []string{enc, base64.StdEncoding.EncodeToString(raw)}}
}

// Ring is the key ring of k alone.
func (k Key) Ring(t testing.TB) *cookie.Keys {
	t.Helper()
	keys, err := cookie.NewKeys(k.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Env is bff's environment for a deployment at public against op, with
// key sealing: the required variables only, so every other setting is
// bff's default. Add to it as an operator would.
func Env(op *OP, public *url.URL, key Key) map[string]string {
	return op.IdP().Env(public, key)
}

// IdP is an OpenID provider with bff registered as its client.
type IdP struct {
	Issuer, ClientID, ClientSecret string
	// Login signs the provider's user in as a browser would, from the
	// authorize URL bff redirected to, and returns the callback URL the
	// provider sends the browser back to. client must not follow redirects.
	Login func(t testing.TB, client *http.Client, authorizeURL string) *url.URL
}

// Env is bff's environment for a deployment at public against p; see
// [Env].
func (p IdP) Env(public *url.URL, key Key) map[string]string {
	return map[string]string{
		"BFF_ISSUER":        p.Issuer,
		"BFF_CLIENT_ID":     p.ClientID,
		"BFF_CLIENT_SECRET": p.ClientSecret,
		"BFF_PUBLIC_URL":    public.String(),
		"BFF_COOKIE_KEYS":   key.Encoded,
	}
}

// Load is config.Load of env, which must be valid.
func Load(t testing.TB, env map[string]string) *config.Config {
	t.Helper()
	env = maps.Clone(env)
	cfg, err := config.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// AuthConfig is the oidc package's configuration for bff at public against
// op, with bff's default scopes and lifetimes, for tests of package oidc on
// its own. clock may be nil; log may be nil.
func AuthConfig(t testing.TB, op *OP, public *url.URL, key Key, clock *Clock, log *slog.Logger) oidc.Config {
	t.Helper()
	cfg := oidc.Config{
		Issuer:        op.Issuer,
		ClientID:      op.ClientID,
		ClientSecret:  op.ClientSecret,
		PublicURL:     public,
		Scopes:        strings.Fields(config.DefaultScopes),
		SessionMaxAge: config.DefaultSessionMaxAge,
		SessionIdle:   config.DefaultSessionIdle,
		Keys:          key.Ring(t),
		HTTPClient:    &http.Client{Timeout: 5 * time.Second},
		Logger:        log,
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	return cfg
}
