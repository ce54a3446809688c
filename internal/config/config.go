// Package config reads bff's configuration from its environment and
// validates all of it at once, so an operator sees every mistake in one
// start-up.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"bff/cookie"
	"bff/internal/clientip"
	"bff/internal/cors"
	"bff/internal/policy"
	"bff/oidc"
	"bff/proxy"
)

// Config is everything bff reads from its environment.
type Config struct {
	Issuer        string
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
	// TrustedProxies are the load balancers whose X-Forwarded-For is
	// believed when rate limiting by client address.
	TrustedProxies []netip.Prefix
	// AuthRatePerMinute limits logins and callbacks per client address;
	// 0 turns the limit off.
	AuthRatePerMinute int
	CORSOrigins       []string
	AuthParams        url.Values
}

// Default values of the optional variables.
const (
	DefaultScopes            = "openid profile email offline_access"
	DefaultSessionMaxAge     = 12 * time.Hour
	DefaultSessionIdle       = time.Hour
	DefaultAuthRatePerMinute = 30
)

// Load reads and validates the environment. It reports every bad variable
// at once, by name, and never repeats a secret's value.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{
		Issuer:        strings.TrimSpace(getenv("BFF_ISSUER")),
		ClientID:      strings.TrimSpace(getenv("BFF_CLIENT_ID")),
		StaticDir:     getenv("BFF_STATIC_DIR"),
		PostLogoutURL: getenv("BFF_POST_LOGOUT_URL"),
		MetricsListen: getenv("BFF_METRICS_LISTEN"),
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}

	if c.Issuer == "" {
		bad("BFF_ISSUER", "required")
	} else if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		bad("BFF_ISSUER", "must be an https URL (http only on a loopback host)")
	}
	if c.ClientID == "" {
		bad("BFF_CLIENT_ID", "required")
	}
	c.ClientSecret, errs = clientSecret(getenv, errs)

	switch raw := getenv("BFF_PUBLIC_URL"); {
	case raw == "":
		bad("BFF_PUBLIC_URL", "required")
	default:
		origin, err := policy.Origin(raw)
		if err != nil {
			bad("BFF_PUBLIC_URL", "must be an origin such as https://app.example.com, with no path")
			break
		}
		u, _ := url.Parse(origin)
		if u.Scheme != "https" && !isLoopback(u.Hostname()) {
			bad("BFF_PUBLIC_URL", "must be https unless its host is loopback (localhost, 127.0.0.1, [::1])")
			break
		}
		c.PublicURL = u
	}

	if raw := getenv("BFF_COOKIE_KEYS"); raw == "" {
		bad("BFF_COOKIE_KEYS", "required (generate one with: bff keygen)")
	} else if keys, err := cookie.ParseKeys(raw); err != nil {
		bad("BFF_COOKIE_KEYS", "%v", err)
	} else {
		c.CookieKeys = keys
	}

	if routes, err := proxy.ParseRoutes(getenv("BFF_ROUTES")); err != nil {
		bad("BFF_ROUTES", "%v", err)
	} else {
		c.Routes = routes
	}

	c.Listen = getenv("BFF_LISTEN")
	if c.Listen == "" {
		c.Listen = ":8080"
		if port := getenv("PORT"); port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				bad("PORT", "must be a port number")
			}
			c.Listen = ":" + port
		}
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("BFF_LISTEN", "must be host:port or :port")
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			bad("BFF_METRICS_LISTEN", "must be host:port or :port")
		} else if c.MetricsListen == c.Listen {
			bad("BFF_METRICS_LISTEN", "must differ from the public listener")
		}
	}

	c.Scopes = strings.Fields(getenv("BFF_SCOPES"))
	if len(c.Scopes) == 0 {
		c.Scopes = strings.Fields(DefaultScopes)
	} else if !slices.Contains(c.Scopes, "openid") {
		bad("BFF_SCOPES", "must include openid")
	}

	if c.StaticDir != "" {
		if fi, err := os.Stat(c.StaticDir); err != nil || !fi.IsDir() {
			bad("BFF_STATIC_DIR", "must be an existing directory")
		}
	}
	if p := c.PostLogoutURL; p != "" && !policy.IsLocalPath(p) {
		if u, err := url.Parse(p); err != nil || strings.HasPrefix(p, "/") || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("BFF_POST_LOGOUT_URL", "must be a local path or an absolute http(s) URL")
		}
	}

	c.SessionMaxAge, errs = duration(getenv, "BFF_SESSION_MAX_AGE", DefaultSessionMaxAge, errs)
	c.SessionIdle, errs = duration(getenv, "BFF_SESSION_IDLE", DefaultSessionIdle, errs)

	switch v := strings.ToLower(getenv("BFF_EXPOSE_TOKEN")); v {
	case "", "false", "0":
	case "true", "1":
		c.ExposeToken = true
	default:
		bad("BFF_EXPOSE_TOKEN", "must be true or false")
	}

	if v := getenv("BFF_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("BFF_LOG_LEVEL", "must be debug, info, warn or error")
		}
	}

	if p, err := clientip.ParseTrustedProxies(getenv("BFF_TRUSTED_PROXIES")); err != nil {
		bad("BFF_TRUSTED_PROXIES", "%v", err)
	} else {
		c.TrustedProxies = p
	}
	c.AuthRatePerMinute = DefaultAuthRatePerMinute
	if v := getenv("BFF_AUTH_RATE_LIMIT"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			bad("BFF_AUTH_RATE_LIMIT", "must be a whole number of requests per minute, 0 for no limit")
		} else {
			c.AuthRatePerMinute = n
		}
	}
	if raw := getenv("BFF_AUTH_PARAMS"); raw != "" {
		v, err := url.ParseQuery(raw)
		switch {
		case err != nil:
			bad("BFF_AUTH_PARAMS", "must be a query string such as audience=https%%3A%%2F%%2Fapi.example.com")
		default:
			for name := range v {
				if oidc.IsReservedAuthParam(name) {
					bad("BFF_AUTH_PARAMS", "%q is set by bff itself", name)
				}
			}
			c.AuthParams = v
		}
	}
	if o, err := cors.ParseOrigins(getenv("BFF_CORS_ORIGINS")); err != nil {
		bad("BFF_CORS_ORIGINS", "%v", err)
	} else {
		c.CORSOrigins = o
	}

	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return c, nil
}

func clientSecret(getenv func(string) string, errs []error) (string, []error) {
	inline, file := getenv("BFF_CLIENT_SECRET"), getenv("BFF_CLIENT_SECRET_FILE")
	switch {
	case inline != "" && file != "":
		return "", append(errs, errors.New("BFF_CLIENT_SECRET, BFF_CLIENT_SECRET_FILE: set one, not both"))
	case inline != "":
		return inline, errs
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", append(errs, errors.New("BFF_CLIENT_SECRET_FILE: cannot read the file"))
		}
		secret := strings.TrimRight(string(b), "\r\n")
		if secret == "" {
			return "", append(errs, errors.New("BFF_CLIENT_SECRET_FILE: the file is empty"))
		}
		return secret, errs
	default:
		return "", append(errs, errors.New("BFF_CLIENT_SECRET or BFF_CLIENT_SECRET_FILE: required"))
	}
}

func duration(getenv func(string) string, name string, def time.Duration, errs []error) (time.Duration, []error) {
	raw := getenv(name)
	if raw == "" {
		return def, errs
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		return def, append(errs, fmt.Errorf("%s: must be a positive Go duration such as 30m or 12h", name))
	}
	return d, errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
