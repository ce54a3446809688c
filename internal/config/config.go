// Package config reads bff's configuration from its environment and
// validates all of it at once, so an operator sees every mistake in one
// start-up. One table, [Variables], drives both the loader and `bff help`,
// so the two cannot drift.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"bff/cookie"
	"bff/oidc"
	"bff/proxy"
)

// Config is everything bff reads from its environment.
type Config struct {
	Issuer string
	// Discovery is the IdP's discovery document from BFF_DISCOVERY_FILE;
	// nil when bff fetches it from the issuer.
	Discovery     *oidc.Discovery
	ClientID      string
	ClientSecret  string
	PublicURL     *url.URL
	CookieKeys    *cookie.Keys
	Routes        []proxy.Route
	Listen        string
	Scopes        []string
	StaticDir     string
	PostLogoutURL string
	SessionMaxAge time.Duration
	SessionIdle   time.Duration
	ExposeToken   bool
	MetricsListen string
	LogLevel      slog.Level
	// LambdaBuffered answers Lambda function URL invocations with one
	// buffered result instead of a response stream.
	LambdaBuffered bool
	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed: for rate limiting and the upstream's X-Forwarded-For.
	TrustedProxies []netip.Prefix
	// AuthRatePerMinute limits logins and callbacks per client address;
	// 0 turns the limit off.
	AuthRatePerMinute int
	CORSOrigins       []string
	AuthParams        url.Values
	// ProtectedPaths are path prefixes whose pages need a session.
	ProtectedPaths []string
	// SPAFallback answers a navigation to a missing page with index.html.
	SPAFallback bool
	// CSP is the Content-Security-Policy of every static response; "" none.
	CSP string
	// ErrorURL is where a failed sign-in sends the browser; "" shows bff's
	// own error page.
	ErrorURL string
	// RedisURL turns on the shared engine; "" keeps bff stateless.
	RedisURL string
	// SessionStore is "cookie" (the session in the cookie, or in Redis
	// when too large for MaxCookieChunks) or "redis" (always in Redis).
	SessionStore string
	// MaxCookieChunks bounds the session cookie's chunks.
	MaxCookieChunks int
	// CORSHeaders are the request headers listed origins may send, besides
	// cors.DefaultHeaders.
	CORSHeaders []string
	// Tracing says whether and where bff sends OpenTelemetry spans.
	Tracing Tracing
}

// Load reads and validates the environment. It reports every bad variable
// at once, by name, and never repeats a secret's value.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{}
	errs := c.read(Variables(), getenv)
	errs = append(errs, c.check()...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

// TracingOf is the tracing switch as Load resolves it, for a caller that
// must know it even when other variables are wrong. Load reports the
// errors of its variables.
func TracingOf(getenv func(string) string) Tracing {
	c := &Config{}
	c.read(observabilityVariables(), getenv)
	c.Tracing.resolve()
	return c.Tracing
}

// read sets c from vars, returning an error for each bad one.
func (c *Config) read(vars []Variable, getenv func(string) string) []error {
	var errs []error
	for _, v := range vars {
		raw, err := v.read(getenv)
		switch {
		case err != nil:
			errs = append(errs, err)
			continue
		case raw == "" && v.Required:
			errs = append(errs, fmt.Errorf("%s: required%s", v.names(), v.hint))
			continue
		case raw == "":
			raw = v.Default
		}
		if err := v.parse(c, raw, getenv); err != nil {
			errs = append(errs, named(v.Name, err))
		}
	}
	return errs
}

// named prefixes err with the variable's name, and each of its errors
// when it joins several, so that every line of the message says which
// variable it is about.
func named(name string, err error) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	for _, e := range joined.Unwrap() {
		errs = append(errs, named(name, e))
	}
	return errors.Join(errs...)
}

// check validates what one variable alone cannot: how they fit together.
// It runs after every variable was read, on what could be read.
func (c *Config) check() []error {
	var errs []error
	if c.SessionStore == "redis" && c.RedisURL == "" {
		errs = append(errs, errors.New("BFF_SESSION_STORE: redis needs BFF_REDIS_URL"))
	}
	c.Tracing.resolve()
	if c.MetricsListen != "" && c.MetricsListen == c.Listen {
		errs = append(errs, errors.New("BFF_METRICS_LISTEN: must differ from the public listener"))
	}
	for _, p := range c.ProtectedPaths {
		for _, r := range c.Routes {
			if strings.HasPrefix(p, r.Prefix) {
				errs = append(errs, fmt.Errorf("BFF_PROTECTED_PATHS: %q lies under the route %q, which has rules of its own", p, r.Prefix))
			}
		}
	}

	if c.Discovery != nil && c.Issuer != "" && c.Discovery.Issuer != c.Issuer {
		errs = append(errs, fmt.Errorf("BFF_DISCOVERY_FILE: the document's issuer is %q, not BFF_ISSUER's %q", c.Discovery.Issuer, c.Issuer))
	}
	return errs
}

// Variable is one setting bff reads from its environment.
type Variable struct {
	Name     string
	Default  string // what an unset variable means, as Load reads it; "" when nothing
	Help     string // one line
	Required bool
	// Secret variables may instead name a file that holds the value
	// (NAME_FILE), and their values never appear in messages.
	Secret bool
	hint   string // added to the "required" message
	parse  func(c *Config, value string, getenv func(string) string) error
}

// names is how messages name the variable: with its file form, if any.
func (v Variable) names() string {
	if v.Secret {
		return v.Name + " or " + v.Name + "_FILE"
	}
	return v.Name
}

// read returns the variable's text: inline, or from the file NAME_FILE
// names with one trailing newline removed. Setting both, or a file that
// cannot be read, is an error naming the variable.
func (v Variable) read(getenv func(string) string) (string, error) {
	inline := getenv(v.Name)
	if !v.Secret {
		return inline, nil
	}
	file := getenv(v.Name + "_FILE")
	switch {
	case inline != "" && file != "":
		return "", fmt.Errorf("%s, %s_FILE: set one, not both", v.Name, v.Name)
	case file == "":
		return inline, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: cannot read the file", v.Name)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", fmt.Errorf("%s_FILE: the file is empty", v.Name)
	}
	return s, nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
