package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"bff/internal/clientip"
	"bff/internal/cors"
	"bff/internal/problem"
	"bff/internal/ratelimit"
	"bff/internal/version"
)

// middleware is what every request passes before the route table:
// security headers, CORS for listed origins, a deadline for the body, and
// the refusal of targets that are not paths.
func (s *Server) middleware(next http.Handler) http.Handler {
	h := cors.Handler(s.cfg.CORSOrigins, s.cfg.CORSHeaders, onlyPaths(next))
	h = securityHeaders(s.cfg.PublicURL.Scheme == "https", h)
	return readDeadline(s.timeouts.Body, h)
}

// rateLimit limits requests per client address.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	cfg := ratelimit.Config{
		Rate:  rate.Limit(float64(s.cfg.AuthRatePerMinute) / 60),
		Burst: max(s.cfg.AuthRatePerMinute/3, 5),
	}
	if s.store != nil {
		cfg.Shared = s.store // one limit across replicas
	}
	limiter := ratelimit.New(cfg)
	return limiter.Middleware(s.clientAddr, next)
}

// clientAddress finds the browser's address behind the trusted proxies. It
// keys the login limit, so behind a load balancer that bff was not told to
// trust every user has the balancer's address and shares one limit: say
// so once in the log, where an operator will see it.
func clientAddress(log *slog.Logger, trusted []netip.Prefix) func(*http.Request) netip.Addr {
	resolve := clientip.New(trusted).IP
	var warn sync.Once
	return func(r *http.Request) netip.Addr {
		if len(trusted) == 0 && r.Header.Get("X-Forwarded-For") != "" {
			warn.Do(func() {
				log.Warn("requests carry X-Forwarded-For but BFF_TRUSTED_PROXIES is empty: the login rate limit sees the proxy's address, shared by every user behind it")
			})
		}
		return resolve(r)
	}
}

// readDeadline gives a request that has a body a deadline for sending it.
// A request without one gets none: net/http is then already reading the
// connection in the background, and a deadline firing there would cancel
// the context of every later request on that connection.
func readDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(w, r)
	})
}

// onlyPaths answers requests whose target is not a path (CONNECT host:port,
// or an asterisk) as problem+json, instead of the mux's plain-text 404.
func onlyPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/") || r.Method == http.MethodConnect {
			problem.Write(w, http.StatusMethodNotAllowed, "Method not allowed", "")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	problem.Write(w, http.StatusNotFound, "Not found", "")
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": msg, "version": version.String()})
}

// securityHeaders sets what every response bff itself writes should carry.
// Proxied responses get them too; an upstream's own values win, except
// over Strict-Transport-Security, which covers the whole origin.
func securityHeaders(https bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if https {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}
