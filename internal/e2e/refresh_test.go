package e2e

import (
	"bff/internal/bfftest"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestProxyAttachesToken(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{})
	s.Login()
	s.Client.Jar.SetCookies(s.Public, []*http.Cookie{{Name: "theme", Value: "dark"}})

	r := s.API("/api/orders/7?q=1")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("api: %d %s", r.StatusCode, r.Text)
	}
	saw := s.Upstream.Last(t)
	if saw.Path != "/v1/orders/7" || saw.Query != "q=1" {
		t.Errorf("upstream path %q query %q", saw.Path, saw.Query)
	}
	tok, ok := strings.CutPrefix(saw.Authorization, "Bearer ")
	if !ok || !slices.Contains(s.OP.IssuedTokens(), tok) {
		t.Errorf("upstream Authorization is not an issued access token: %.20q", saw.Authorization)
	}
	if saw.Cookie != "theme=dark" {
		t.Errorf("upstream Cookie = %q, want only theme=dark", saw.Cookie)
	}
	if saw.XFF == "" || saw.XFHost != s.Public.Host {
		t.Errorf("X-Forwarded-For %q, X-Forwarded-Host %q", saw.XFF, saw.XFHost)
	}

	if r := s.Get("/api/orders"); r.StatusCode != http.StatusForbidden {
		t.Errorf("without X-CSRF: %d, want 403", r.StatusCode)
	}
	anon, _ := bfftest.NewClient(t)
	if r := bfftest.Get(t, anon, s.Front.URL, "/api/orders", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized || r.Header.Get("Location") != "" {
		t.Errorf("without session: %d (Location %q), want 401 and no redirect", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestRefreshBeforeExpiry(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{})
	s.Login()
	s.API("/api/a")
	first := s.Upstream.Last(t).Authorization

	s.Clock.Advance(35 * time.Second) // 25 s left of the 1-minute token: inside the 30 s margin
	r := s.API("/api/b")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("api: %d %s", r.StatusCode, r.Text)
	}
	second := s.Upstream.Last(t).Authorization
	if second == first {
		t.Fatal("upstream got the old token inside the refresh margin")
	}
	if !slices.ContainsFunc(bfftest.SetCookieNames(r), func(n string) bool { return strings.HasPrefix(n, "__Host-bff-session") }) {
		t.Error("the refreshed session was not set on the same response")
	}
	if c := s.OP.Counts(); c.RefreshGrants != 1 {
		t.Errorf("OP refresh grants = %d, want 1", c.RefreshGrants)
	}
	// The new cookie carries the new token: no second refresh.
	s.API("/api/c")
	if got := s.Upstream.Last(t).Authorization; got != second {
		t.Error("the next request did not use the refreshed token")
	}
	if c := s.OP.Counts(); c.RefreshGrants != 1 {
		t.Errorf("OP refresh grants = %d after reuse, want 1", c.RefreshGrants)
	}
}

// storm fires n concurrent API calls carrying the same cookie and returns
// their statuses.
func storm(s *bfftest.Stack, n int) []int {
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, s.Front.URL+"/api/storm", nil)
			req.Header.Set("X-CSRF", "1")
			resp, err := s.Client.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	return statuses
}

func TestRefreshStormOneReplica(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{})
	s.Login()
	s.Clock.Advance(2 * time.Minute) // well past expiry
	// The jar would update between requests; freeze the cookie so all 60
	// carry the expiring session, as a burst from one page would.
	frozen := s.Client.Jar.Cookies(s.Public)
	s.Client.Jar = frozenJar(frozen)
	for i, st := range storm(s, 60) {
		if st != http.StatusOK {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	if c := s.OP.Counts(); c.RefreshGrants != 1 {
		t.Errorf("OP saw %d refresh grants for one storm, want 1", c.RefreshGrants)
	}
}

func TestTwoReplicasShareSessions(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{Replicas: 2, OP: bfftest.OPOptions{Reuse: 30 * time.Second}})
	s.Login()
	for range 4 { // round robin: both replicas serve the session
		if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
			t.Fatalf("api: %d", r.StatusCode)
		}
	}
	s.Clock.Advance(2 * time.Minute)
	s.Client.Jar = frozenJar(s.Client.Jar.Cookies(s.Public))
	for i, st := range storm(s, 60) {
		if st != http.StatusOK {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	if c := s.OP.Counts(); c.RefreshGrants < 1 || c.RefreshGrants > 2 || c.RefreshRefused != 0 {
		t.Errorf("OP counts %+v: want one refresh per replica at most, none refused", c)
	}
}

func TestRefreshRefused(t *testing.T) {
	t.Run("token still valid: proceed with it", func(t *testing.T) {
		s := bfftest.NewStack(t, bfftest.StackOptions{})
		s.Login()
		s.API("/api/a")
		old := s.Upstream.Last(t).Authorization
		s.OP.RevokeAll(t)
		s.Clock.Advance(40 * time.Second)
		r := s.API("/api/b")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("api: %d %s", r.StatusCode, r.Text)
		}
		if got := s.Upstream.Last(t).Authorization; got != old {
			t.Error("upstream did not get the still-valid old token")
		}
		// Proceeding is the case only if bff tried to refresh and was refused.
		if c := s.OP.Counts(); c.RefreshRefused != 1 || c.RefreshGrants != 0 {
			t.Errorf("OP counts %+v: want exactly 1 refused refresh", c)
		}
	})
	t.Run("token expired: session ends", func(t *testing.T) {
		s := bfftest.NewStack(t, bfftest.StackOptions{})
		s.Login()
		s.OP.RevokeAll(t)
		s.Clock.Advance(2 * time.Minute)
		r := s.API("/api/b")
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("api: %d, want 401", r.StatusCode)
		}
		if !bfftest.ExpiresSession(r) {
			t.Errorf("session chunks not expired: %q", r.Header.Values("Set-Cookie"))
		}
		if r := s.Get("/auth/session", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("session after refused refresh: %d", r.StatusCode)
		}
	})
}

// TestRefusedRefreshRemembered: a cookie whose refresh token the IdP
// refused, replayed, gets 401 from the replica's memory, without another
// grant at the IdP with bff's client credentials.
func TestRefusedRefreshRemembered(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{})
	s.Login()
	dead := frozenJar(s.Jar.Cookies(s.Public))
	s.OP.RevokeAll(t)
	s.Clock.Advance(2 * time.Minute)
	replay := &http.Client{Jar: dead, Timeout: 10 * time.Second}
	const replays = 10
	for i := range replays {
		r := bfftest.Get(t, replay, s.Front.URL, "/api/x", "X-CSRF", "1")
		if r.StatusCode != http.StatusUnauthorized || !bfftest.ExpiresSession(r) {
			t.Fatalf("replay %d: %d, Set-Cookie %q; want 401 with every chunk expired", i, r.StatusCode, r.Header.Values("Set-Cookie"))
		}
	}
	if c := s.OP.Counts(); c.RefreshRefused != 1 || c.RefreshGrants != 0 {
		t.Errorf("OP counts after %d replays of a refused cookie: %+v, want exactly 1 refused grant", replays, c)
	}
	// Still remembered near the end of the idle limit.
	s.Clock.Advance(55 * time.Minute)
	if r := bfftest.Get(t, replay, s.Front.URL, "/api/x", "X-CSRF", "1"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("replay near the idle limit: %d", r.StatusCode)
	}
	if c := s.OP.Counts(); c.RefreshRefused != 1 {
		t.Errorf("OP counts near the idle limit: %+v, want still 1 refused grant", c)
	}
}

// TestRefreshRefusalOrOutage: only the token endpoint's 400 and 401 end a
// session. Anything else (a rate limit, a timeout, any other status) is an
// outage: 503 with the cookie kept and the IdP's Retry-After passed on,
// and the session goes on once the IdP answers again.
func TestRefreshRefusalOrOutage(t *testing.T) {
	const refresh = "refresh_token"
	answer := func(status int, retryAfter, body string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if bfftest.OPEndpoint(r, "/oauth/token") && bfftest.GrantOf(r) == refresh {
					if retryAfter != "" {
						w.Header().Set("Retry-After", retryAfter)
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(status)
					io.WriteString(w, body)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	soon := time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string // what the IdP sends
		wantStatus int
		wantRetry  string // what the browser gets
	}{
		{"400 invalid_grant", 400, "", 401, ""},
		{"401 invalid_client", 401, "", 401, ""},
		{"429 with Retry-After", 429, "17", 503, "17"},
		{"429 with an HTTP-date Retry-After", 429, soon, 503, soon},
		{"429 with a nonsense Retry-After", 429, "soon, <script>", 503, "5"},
		{"408", 408, "", 503, "5"},
		{"403", 403, "", 503, "5"},
		{"404", 404, "", 503, "5"},
		{"500", 500, "", 503, "5"},
		{"503 with Retry-After", 503, "30", 503, "30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var broken atomic.Bool
			s := bfftest.NewStack(t, bfftest.StackOptions{OP: bfftest.OPOptions{
				Wrap: while(&broken, answer(tc.status, tc.retryAfter, `{"error":"something"}`)),
			}})
			s.Login()
			broken.Store(true)
			s.Clock.Advance(2 * time.Minute)
			r := s.API("/api/x")
			if r.StatusCode != tc.wantStatus || r.Header.Get("Retry-After") != tc.wantRetry {
				t.Fatalf("IdP answers %d: bff %d, Retry-After %q; want %d, %q", tc.status, r.StatusCode, r.Header.Get("Retry-After"), tc.wantStatus, tc.wantRetry)
			}
			broken.Store(false)
			after := s.API("/api/y")
			if tc.wantStatus == http.StatusUnauthorized {
				if !bfftest.ExpiresSession(r) || after.StatusCode != http.StatusUnauthorized {
					t.Errorf("refusal: chunks expired %v, next request %d; want the session over", bfftest.ExpiresSession(r), after.StatusCode)
				}
				return
			}
			if n := len(r.Header.Values("Set-Cookie")); n != 0 {
				t.Errorf("the outage touched the cookie: %q", r.Header.Values("Set-Cookie"))
			}
			if after.StatusCode != http.StatusOK {
				t.Errorf("IdP back: %d, want 200 with the same session", after.StatusCode)
			}
		})
	}
}

func TestIdPDownDuringRefresh(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{})
	s.Login()
	s.OP.Down.Store(true)

	s.Clock.Advance(40 * time.Second) // inside the margin, still valid
	if r := s.API("/api/a"); r.StatusCode != http.StatusOK {
		t.Fatalf("valid token, IdP down: %d, want 200 with the old token", r.StatusCode)
	}
	s.Clock.Advance(time.Minute) // expired now
	r := s.API("/api/b")
	if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("expired token, IdP down: %d %q, want 503 problem", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("503 touched the cookie: %q", r.Header.Values("Set-Cookie"))
	}
	s.OP.Down.Store(false)
	if r := s.API("/api/c"); r.StatusCode != http.StatusOK {
		t.Fatalf("IdP back: %d, want 200", r.StatusCode)
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{}) // strict rotation: a rotated-out token is refused
	s.Login()
	before := s.Client.Jar.Cookies(s.Public)
	s.Clock.Advance(2 * time.Minute)
	if r := s.API("/api/a"); r.StatusCode != http.StatusOK {
		t.Fatalf("first refresh: %d", r.StatusCode)
	}
	// A late request still carrying the pre-rotation cookie reuses the
	// result instead of replaying the rotated-out refresh token.
	late, _ := bfftest.NewClient(t)
	late.Jar.SetCookies(s.Public, before)
	if r := bfftest.Get(t, late, s.Front.URL, "/api/b", "X-CSRF", "1"); r.StatusCode != http.StatusOK {
		t.Fatalf("late request with the old cookie: %d", r.StatusCode)
	}
	s.Clock.Advance(2 * time.Minute)
	if r := s.API("/api/c"); r.StatusCode != http.StatusOK {
		t.Fatalf("second refresh: %d", r.StatusCode)
	}
	if c := s.OP.Counts(); c.RefreshGrants != 2 || c.RefreshRefused != 0 {
		t.Errorf("OP counts %+v, want 2 grants, none refused", c)
	}
}

// frozenJar sends the same cookies on every request and ignores updates.
type frozenJar []*http.Cookie

func (j frozenJar) SetCookies(*url.URL, []*http.Cookie) {}
func (j frozenJar) Cookies(*url.URL) []*http.Cookie     { return j }

func TestTokenEndpoint(t *testing.T) {
	off := bfftest.NewStack(t, bfftest.StackOptions{})
	off.Login()
	if r := off.Get("/auth/token", "X-CSRF", "1"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/auth/token without BFF_EXPOSE_TOKEN: %d, want 404", r.StatusCode)
	}

	s := bfftest.NewStack(t, bfftest.StackOptions{Env: map[string]string{"BFF_EXPOSE_TOKEN": "true"}})
	s.Login()
	if r := s.Get("/auth/token"); r.StatusCode != http.StatusForbidden {
		t.Errorf("without X-CSRF: %d, want 403", r.StatusCode)
	}
	r := s.Get("/auth/token", "X-CSRF", "1")
	var got struct {
		AccessToken string    `json:"access_token"`
		ExpiresAt   time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(r.Text), &got); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("token: %d %v", r.StatusCode, err)
	}
	if !slices.Contains(s.OP.IssuedTokens(), got.AccessToken) || got.ExpiresAt.Before(s.Clock.Now()) {
		t.Errorf("token endpoint gave an unknown or expired token (expires %v)", got.ExpiresAt)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	// Near expiry it refreshes first, like the proxy.
	s.Clock.Advance(2 * time.Minute)
	r = s.Get("/auth/token", "X-CSRF", "1")
	var fresh struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal([]byte(r.Text), &fresh)
	if fresh.AccessToken == got.AccessToken || s.OP.Counts().RefreshGrants != 1 {
		t.Errorf("token endpoint did not refresh an expired token (%d refreshes)", s.OP.Counts().RefreshGrants)
	}
}
