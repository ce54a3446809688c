package redis_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/oidc"
)

// BenchmarkAccessTokenRedis is the per-request cost of a signed-in API
// call, AccessToken on a valid cookie session, without Redis and with it:
// with it, every call also asks whether the session was ended, which the
// client-side cache answers. "handle" is with BFF_SESSION_STORE=redis: the
// cookie holds a handle, and every call also reads the session's record.
func BenchmarkAccessTokenRedis(b *testing.B) {
	for _, mode := range []string{"off", "on", "handle"} {
		redis := mode != "off"
		b.Run(mode, func(b *testing.B) {
			srv := httptest.NewUnstartedServer(nil)
			public := &url.URL{Scheme: "http", Host: srv.Listener.Addr().String()}
			op := bfftest.StartOP(b, public, bfftest.OPOptions{AccessTTL: time.Hour})
			cfg := bfftest.AuthConfig(b, op, public, bfftest.NewKey(b), nil, nil)
			if redis {
				store := bfftest.RunStore(b, bfftest.RedisDB(b).URL)
				if !bfftest.Eventually(10*time.Second, store.Ready) {
					b.Fatal("Redis not ready")
				}
				cfg.Shared = store
			}
			if mode == "handle" {
				cfg.SessionStore = "redis"
			}
			auth, err := oidc.New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := auth.Discover(b.Context()); err != nil {
				b.Fatal(err)
			}
			srv.Config.Handler = auth
			srv.Start()
			b.Cleanup(srv.Close)
			browser, jar := bfftest.NewClient(b)
			bfftest.LogIn(b, browser, op, srv.URL)
			var pairs []string
			for _, c := range jar.Cookies(public) {
				pairs = append(pairs, c.Name+"="+c.Value)
			}
			req := httptest.NewRequest(http.MethodGet, srv.URL+"/api/x", nil)
			req.Header.Set("Cookie", strings.Join(pairs, "; "))
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := auth.AccessToken(w, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
