package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"bff/cookie"
	"bff/internal/clientip"
	"bff/internal/cors"
	"bff/internal/endpoint"
	"bff/internal/policy"
	"bff/oidc"
	"bff/proxy"
)

// Default values of the optional variables, as Go values.
const (
	DefaultScopes            = "openid profile email offline_access"
	DefaultSessionMaxAge     = 12 * time.Hour
	DefaultSessionIdle       = time.Hour
	DefaultAuthRatePerMinute = 30
)

// spelled is d as an operator would write it: 12h, not 12h0m0s.
func spelled(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Variables is every variable bff reads, in the order `bff help` lists
// them.
func Variables() []Variable {
	return append([]Variable{
		{Name: "BFF_ISSUER", Required: true,
			Help: "OpenID provider issuer URL; endpoints come from its discovery document",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.Issuer = strings.TrimSpace(v)
				if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
					return errors.New("must be an https URL (http only on a loopback host)")
				}
				return nil
			}},
		{Name: "BFF_DISCOVERY_FILE",
			Help: "the IdP's discovery document (its .well-known/openid-configuration) as a file: bff starts without fetching it",
			parse: func(c *Config, v string, _ func(string) string) error {
				if v == "" {
					return nil
				}
				doc, err := os.ReadFile(v)
				if err != nil {
					return errors.New("cannot read the file")
				}
				c.Discovery, err = oidc.ParseDiscovery(doc)
				return err
			}},
		{Name: "BFF_CLIENT_ID", Required: true,
			Help: "confidential client id registered at the IdP",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.ClientID = strings.TrimSpace(v)
				return nil
			}},
		{Name: "BFF_CLIENT_SECRET", Required: true, Secret: true,
			Help: "client secret",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.ClientSecret = v
				return nil
			}},
		{Name: "BFF_PUBLIC_URL", Required: true,
			Help: "external origin of bff, e.g. https://app.example.com; https unless the host is loopback",
			parse: func(c *Config, v string, _ func(string) string) error {
				origin, err := policy.Origin(v)
				if err != nil {
					return errors.New("must be an origin such as https://app.example.com, with no path")
				}
				u, _ := url.Parse(origin)
				if u.Scheme != "https" && !isLoopback(u.Hostname()) {
					return errors.New("must be https unless its host is loopback (localhost, 127.0.0.1, [::1])")
				}
				c.PublicURL = u
				return nil
			}},
		{Name: "BFF_COOKIE_KEYS", Required: true, Secret: true, hint: " (generate one with: bff keygen)",
			Help: "comma-separated 32-byte keys, base64url or base64; the first seals, all open",
			parse: func(c *Config, v string, _ func(string) string) error {
				keys, err := cookie.ParseKeys(v)
				c.CookieKeys = keys
				return err
			}},
		{Name: "BFF_ROUTES",
			Help: "comma-separated PREFIX=UPSTREAM, e.g. /api/=http://orders:9000/v1; only these prefixes are proxied",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.Routes, err = proxy.ParseRoutes(v)
				return err
			}},
		{Name: "BFF_LISTEN",
			Help: "listen address; default :$PORT when PORT is set, else :8080",
			parse: func(c *Config, v string, getenv func(string) string) error {
				if v == "" {
					c.Listen = ":8080"
					if port := getenv("PORT"); port != "" {
						if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
							return errors.New("unset, and PORT is not a port number")
						}
						c.Listen = ":" + port
					}
					return nil
				}
				c.Listen = v
				return hostPort(v)
			}},
		{Name: "BFF_SCOPES", Default: DefaultScopes,
			Help: "space-separated scopes to request; must include openid",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.Scopes = strings.Fields(v)
				if !slices.Contains(c.Scopes, "openid") {
					return errors.New("must include openid")
				}
				return nil
			}},
		{Name: "BFF_STATIC_DIR",
			Help: "directory served at / (the SPA, on bff's own origin)",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.StaticDir = v
				if v == "" {
					return nil
				}
				if fi, err := os.Stat(v); err != nil || !fi.IsDir() {
					return errors.New("must be an existing directory")
				}
				return nil
			}},
		{Name: "BFF_SPA_FALLBACK", Default: "true",
			Help: "answer a navigation to a page that is not a file with /index.html (client-side routing)",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.SPAFallback, err = boolean(v)
				return err
			}},
		{Name: "BFF_CSP",
			Help: "Content-Security-Policy for every static response",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.CSP = strings.TrimSpace(v)
				if strings.ContainsAny(c.CSP, "\r\n") {
					return errors.New("must be one line")
				}
				return nil
			}},
		{Name: "BFF_PROTECTED_PATHS",
			Help: "comma-separated path prefixes whose pages need a session, e.g. /app/ or /",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.ProtectedPaths, err = protectedPaths(v)
				return err
			}},
		{Name: "BFF_POST_LOGOUT_URL",
			Help: "where the browser lands after logout: a local path or an absolute URL; default /",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.PostLogoutURL = v
				return localOrAbsolute(v)
			}},
		{Name: "BFF_ERROR_URL",
			Help: "where a failed sign-in sends the browser, with error=<code> added; default bff's own error page",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.ErrorURL = v
				return localOrAbsolute(v)
			}},
		{Name: "BFF_SESSION_MAX_AGE", Default: spelled(DefaultSessionMaxAge),
			Help: "absolute session lifetime (Go duration)",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.SessionMaxAge, err = duration(v)
				return err
			}},
		{Name: "BFF_SESSION_IDLE", Default: spelled(DefaultSessionIdle),
			Help: "idle timeout (Go duration)",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.SessionIdle, err = duration(v)
				return err
			}},
		{Name: "BFF_EXPOSE_TOKEN", Default: "false",
			Help: "true serves GET /auth/token, handing the access token to the SPA's JavaScript",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.ExposeToken, err = boolean(v)
				return err
			}},
		{Name: "BFF_AUTH_PARAMS",
			Help: "extra authorization-request parameters as a query string, e.g. audience=https%3A%2F%2Fapi.example.com",
			parse: func(c *Config, v string, _ func(string) string) error {
				if v == "" {
					return nil
				}
				params, err := url.ParseQuery(v)
				if err != nil {
					return errors.New("must be a query string such as audience=https%3A%2F%2Fapi.example.com")
				}
				var errs []error
				for _, name := range slices.Sorted(maps.Keys(params)) {
					if oidc.IsReservedAuthParam(name) {
						errs = append(errs, fmt.Errorf("%q is set by bff itself", name))
					}
				}
				c.AuthParams = params
				return errors.Join(errs...)
			}},
		{Name: "BFF_AUTH_RATE_LIMIT", Default: strconv.Itoa(DefaultAuthRatePerMinute),
			Help: "logins and callbacks per minute per client address; 0 turns the limit off",
			parse: func(c *Config, v string, _ func(string) string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return errors.New("must be a whole number of requests per minute, 0 for no limit")
				}
				c.AuthRatePerMinute = n
				return nil
			}},
		{Name: "BFF_TRUSTED_PROXIES",
			Help: "comma-separated CIDRs of the load balancers in front of bff, whose X-Forwarded-For is believed",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.TrustedProxies, err = clientip.ParseTrustedProxies(v)
				return err
			}},
		{Name: "BFF_CORS_ORIGINS",
			Help: "comma-separated origins allowed to call bff cross-origin with credentials",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.CORSOrigins, err = cors.ParseOrigins(v)
				return err
			}},
		{Name: "BFF_REDIS_URL", Secret: true,
			Help: "redis:// or rediss:// URL of Redis 6.2+ or Valkey, shared by every replica: back-channel logout, logout everywhere, one refresh across replicas, large sessions; off when unset",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.RedisURL = v
				return checkRedisURL(v)
			}},
		{Name: "BFF_SESSION_STORE", Default: "cookie",
			Help: "cookie: the session in the cookie, in Redis only when too large; redis: always in Redis, the cookie holding a handle",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.SessionStore = v
				if v != "cookie" && v != "redis" {
					return errors.New("must be cookie or redis")
				}
				return nil
			}},
		{Name: "BFF_MAX_COOKIE_CHUNKS", Default: "2",
			Help: "most cookies of about 4 KB one session may take; a larger session needs BFF_REDIS_URL",
			parse: func(c *Config, v string, _ func(string) string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > cookie.DefaultMaxChunks {
					return fmt.Errorf("must be a whole number from 1 to %d", cookie.DefaultMaxChunks)
				}
				c.MaxCookieChunks = n
				return nil
			}},
		{Name: "BFF_CORS_HEADERS",
			Help: "comma-separated request headers BFF_CORS_ORIGINS may send besides " + strings.Join(cors.DefaultHeaders, ", "),
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.CORSHeaders, err = cors.ParseHeaders(v)
				return err
			}},
		{Name: "BFF_METRICS_LISTEN",
			Help: "separate listener for Prometheus /metrics, e.g. :9090; off when unset",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.MetricsListen = v
				if v == "" {
					return nil
				}
				return hostPort(v)
			}},
		{Name: "BFF_LAMBDA_INVOKE_MODE", Default: "RESPONSE_STREAM",
			Help: "under AWS Lambda, the function URL's InvokeMode: RESPONSE_STREAM (event streams pass) or BUFFERED",
			parse: func(c *Config, v string, _ func(string) string) error {
				switch strings.ToUpper(v) {
				case "RESPONSE_STREAM":
				case "BUFFERED":
					c.LambdaBuffered = true
				default:
					return errors.New("must be RESPONSE_STREAM or BUFFERED, as the function URL's InvokeMode")
				}
				return nil
			}},
		{Name: "BFF_LOG_LEVEL", Default: "info",
			Help: "debug, info, warn or error; JSON lines on stdout",
			parse: func(c *Config, v string, _ func(string) string) error {
				if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
					return errors.New("must be debug, info, warn or error")
				}
				return nil
			}},
	}, observabilityVariables()...)
}

// checkRedisURL accepts "" or a redis:// or rediss:// URL with a host.
// Its errors never quote the URL, which may hold a password.
func checkRedisURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Hostname() == "" || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be a URL such as redis://host:6379/0 or rediss://user:password@host:6380")
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return errors.New("the path, if any, must be a database number such as /0")
		}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("the port must be a port number")
		}
	}
	return nil
}

func hostPort(v string) error {
	if _, _, err := net.SplitHostPort(v); err != nil {
		return errors.New("must be host:port or :port")
	}
	return nil
}

func duration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("must be a positive Go duration such as 30m or 12h")
	}
	return d, nil
}

func boolean(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, errors.New("must be true or false")
}

// localOrAbsolute accepts "", a local path, or an absolute http(s) URL.
func localOrAbsolute(v string) error {
	if v == "" || policy.IsLocalPath(v) {
		return nil
	}
	if u, err := url.Parse(v); err != nil || strings.HasPrefix(v, "/") || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("must be a local path or an absolute http(s) URL")
	}
	return nil
}

// protectedPaths parses BFF_PROTECTED_PATHS: comma-separated local path
// prefixes. A prefix ending in "/" covers everything under it; one without
// covers that path exactly and everything under it ("/app" is "/app" and
// "/app/..."). None may lie within bff's own paths.
func protectedPaths(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	var errs []error
	for i, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		switch {
		case p == "":
			errs = append(errs, fmt.Errorf("entry %d: empty", i+1))
			continue
		case !policy.IsLocalPath(p) || strings.ContainsAny(p, "?#%"):
			errs = append(errs, fmt.Errorf("entry %d %q: must be a path such as /app/, without query or escapes", i+1, p))
			continue
		case slices.Contains(strings.Split(p, "/"), "..") || slices.Contains(strings.Split(p, "/"), "."):
			errs = append(errs, fmt.Errorf("entry %d %q: must not contain . or .. segments", i+1, p))
			continue
		}
		if own, ok := endpoint.Reserved(strings.TrimSuffix(p, "/") + "/"); ok {
			errs = append(errs, fmt.Errorf("entry %d %q: lies within bff's own %s", i+1, p, own))
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}
