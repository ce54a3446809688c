package interop

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/hydra"
	"bff/oidc"
)

// testReplayedRefreshToken: Hydra takes a used refresh token presented
// again for theft and revokes everything issued from that login. bff does
// not replay one itself: a late request with the cookie from before a
// refresh is answered from the replica's recent result for 30 s. A copy
// of that cookie replayed later does reach Hydra, and then both it and
// the current cookie are over.
func testReplayedRefreshToken(t *testing.T, h *hydra.Hydra) {
	s := bfftest.NewStack(t, bfftest.StackOptions{IdP: h.IdP})
	s.Login()
	before := s.SessionCookies()
	s.Clock.Advance(accessTTL)
	if r := s.API("/api/a"); r.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.StatusCode, r.Text)
	}
	current := s.Session()

	if r := withCookies(t, s, before, "/api/b"); r.StatusCode != http.StatusOK {
		t.Fatalf("late request with the old cookie: %d", r.StatusCode)
	}
	if !h.Introspect(t, current.RefreshToken).Active {
		t.Fatal("a late request within 30 s replayed the used refresh token")
	}

	s.Clock.Advance(31 * time.Second) // past the replica's recent result
	r := withCookies(t, s, before, "/api/c")
	if r.StatusCode != http.StatusUnauthorized || !expiresSession(r) {
		t.Fatalf("replayed old cookie: %d, session cookies %v; want 401 and them expired", r.StatusCode, r.Header.Values("Set-Cookie"))
	}
	for name, tok := range map[string]string{"refresh": current.RefreshToken, "access": current.AccessToken} {
		if h.Introspect(t, tok).Active {
			t.Errorf("the current %s token outlived the replay", name)
		}
	}
	s.Clock.Advance(accessTTL)
	if r := s.API("/api/d"); r.StatusCode != http.StatusUnauthorized || !expiresSession(r) {
		t.Errorf("current cookie after the replay: %d; want 401 and its session expired", r.StatusCode)
	}
}

// withCookies requests path on s's front as the SPA would, from a browser
// holding cookies.
func withCookies(t *testing.T, s *bfftest.Stack, cookies []*http.Cookie, path string) bfftest.Response {
	t.Helper()
	c, jar := bfftest.NewClient(t)
	jar.SetCookies(s.Public, cookies)
	return bfftest.Get(t, c, s.Front.URL, path, "X-CSRF", "1")
}

// expiresSession reports whether r expires session cookies and sets none.
func expiresSession(r bfftest.Response) bool {
	var expired int
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, "__Host-bff-session") {
			if c.MaxAge >= 0 {
				return false
			}
			expired++
		}
	}
	return expired > 0
}

// raceRounds is how many times testRacingReplicas races two replicas.
const raceRounds = 20

// testRacingReplicas sends two requests of one session, its access token
// expired, through two replicas at the same moment, so both redeem the
// refresh token at once. Hydra answers one of them 500 server_error in
// most rounds: bff must answer that 503 with the cookie untouched, as the
// outage it is. Then the browser goes on, past the next expiry, with the
// cookies both answers left it. Without a rotation grace period Hydra
// sometimes refuses the second grant as a reuse, or leaves the browser a
// refresh token it has already retired, and the user is logged out; grace
// says whether that may happen here. The tally is logged, as a
// measurement.
func testRacingReplicas(t *testing.T, h *hydra.Hydra, grace bool) {
	tally := map[string]int{}
	for range raceRounds {
		s := bfftest.NewStack(t, bfftest.StackOptions{IdP: h.IdP, Replicas: 2})
		s.Login()
		s.Clock.Advance(accessTTL)
		both, held := race(t, s)
		for _, r := range both {
			switch r.StatusCode {
			case http.StatusOK:
			case http.StatusServiceUnavailable:
				if r.Header.Get("Retry-After") == "" || len(bfftest.SetCookieNames(r)) != 0 {
					t.Errorf("503 with Retry-After %q and Set-Cookie %v; want one and none", r.Header.Get("Retry-After"), bfftest.SetCookieNames(r))
				}
			case http.StatusUnauthorized:
				if grace {
					t.Error("a racing refresh logged the user out despite the grace period")
				}
			default:
				t.Errorf("racing request: %d %s", r.StatusCode, r.Text)
			}
		}
		for l := range strings.Lines(s.Logs.String()) {
			if strings.Contains(l, "refresh refused") && strings.Contains(l, "token endpoint answered 5") {
				t.Errorf("bff ended a session on Hydra's 5xx: %s", l)
			}
		}
		next := "no session left"
		if slices.ContainsFunc(held, func(c *http.Cookie) bool { return strings.HasPrefix(c.Name, oidc.SessionCookie) }) {
			s.Clock.Advance(accessTTL)
			next = strconv.Itoa(withCookies(t, s, held, "/api/next").StatusCode)
		}
		if grace && next != "200" {
			t.Errorf("after the race, the next call after expiry: %s", next)
		}
		tally[fmt.Sprintf("%d+%d, then %s", min(both[0].StatusCode, both[1].StatusCode), max(both[0].StatusCode, both[1].StatusCode), next)]++
	}
	t.Logf("%d rounds (the racing pair's answers, then the next call's after expiry): %v", raceRounds, tally)
}

// race sends two API requests carrying s's session cookies at once, as two
// tabs of one browser would. It returns both answers, and the cookies the
// browser holds afterwards: each answer's Set-Cookie applied in the order
// the answers arrived.
func race(t *testing.T, s *bfftest.Stack) (both [2]bfftest.Response, held []*http.Cookie) {
	t.Helper()
	cookies := s.SessionCookies()
	_, browser := bfftest.NewClient(t)
	browser.SetCookies(s.Public, cookies)
	var errs [2]error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range both {
		// A jar each, so that both requests carry the cookies from before
		// either answer.
		c, jar := bfftest.NewClient(t)
		jar.SetCookies(s.Public, cookies)
		wg.Go(func() {
			r, err := bfftest.Send(c, http.MethodGet, s.Front.URL, "/api/race", nil, "X-CSRF", "1")
			mu.Lock()
			defer mu.Unlock()
			both[i], errs[i] = r, err
			if err == nil {
				browser.SetCookies(s.Public, r.Cookies())
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	return both, browser.Cookies(s.Public)
}
