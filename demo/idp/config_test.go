package idp_test

import (
	"testing"
	"time"

	"bff/demo/idp"
)

func TestNewValidatesConfig(t *testing.T) {
	valid := func() idp.Config {
		return idp.Config{
			Issuer:       "http://127.0.0.1:8080/idp",
			ClientID:     "bff",
			ClientSecret: "secret",
			RedirectURIs: []string{"http://127.0.0.1:8080/auth/callback"},
		}
	}
	tests := []struct {
		name   string
		mutate func(*idp.Config)
	}{
		{"relative issuer", func(c *idp.Config) { c.Issuer = "/idp" }},
		{"issuer with trailing slash", func(c *idp.Config) { c.Issuer = "http://127.0.0.1:8080/idp/" }},
		{"issuer with query", func(c *idp.Config) { c.Issuer = "http://127.0.0.1:8080/idp?x=1" }},
		{"no client id", func(c *idp.Config) { c.ClientID = "" }},
		{"no client secret", func(c *idp.Config) { c.ClientSecret = "" }},
		{"no redirect uri", func(c *idp.Config) { c.RedirectURIs = nil }},
		{"relative redirect uri", func(c *idp.Config) { c.RedirectURIs = []string{"/cb"} }},
		{"relative post-logout uri", func(c *idp.Config) { c.PostLogoutRedirectURIs = []string{"/bye"} }},
		{"negative lifetime", func(c *idp.Config) { c.AccessTokenLifetime = -time.Second }},
		{"user without password", func(c *idp.Config) { c.Users = []idp.User{{Subject: "a", Username: "a"}} }},
		{"duplicate username", func(c *idp.Config) {
			c.Users = []idp.User{{Subject: "a", Username: "x", Password: "p"}, {Subject: "b", Username: "x", Password: "p"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.mutate(&cfg)
			if _, err := idp.New(cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
	if _, err := idp.New(valid()); err != nil {
		t.Errorf("New refused a valid config: %v", err)
	}
}

func TestDefaultAccessTokenLifetime(t *testing.T) {
	o := newTestOP(t, nil)
	tok, _ := o.login(t)
	if d := lifetime(t, o.verifyJWT(t, tok.AccessToken)); !near(d, time.Minute, time.Second) {
		t.Errorf("default access token lifetime %v, want 1m", d)
	}
}
