package interop

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/internal/bfftest/hydra"
	"bff/internal/bfftest/kit"
)

func TestMain(m *testing.M) { bfftest.RedisMain(m) }

// TestHydraWithRedis: what Redis adds, against Hydra with strict
// refresh-token rotation and no grace period.
func TestHydraWithRedis(t *testing.T) {
	h := hydra.Start(t, hydra.Options{AccessTTL: accessTTL})
	t.Run("back-channel logout from Hydra", func(t *testing.T) { testHydraBackchannel(t, h) })
	t.Run("one refresh across replicas", func(t *testing.T) { testHydraOneRefresh(t, h) })
}

// redisStack is a deployment of two replicas sharing a Redis database.
func redisStack(t *testing.T, h *hydra.Hydra) *bfftest.Stack {
	return bfftest.NewStack(t, bfftest.StackOptions{
		IdP: h.IdP, Replicas: 2, Env: map[string]string{"BFF_REDIS_URL": bfftest.RedisDB(t).URL},
	})
}

// testHydraBackchannel: one browser, two bff sessions from one Hydra login
// (another tab, or a copy of an older cookie). Logging one out through
// Hydra makes Hydra post a logout token for its login session, and the
// other bff session, which bff's own logout did not touch, is over on
// both replicas.
func testHydraBackchannel(t *testing.T, h *hydra.Hydra) {
	s := redisStack(t, h)
	s.Login()
	other := s.SessionCookies()
	s.Login() // Hydra remembers the login: the same login session, sid
	if a, b := sid(t, s.Session().IDToken), sid(t, bfftest.OpenSession(t, s.Key, other).IDToken); a == "" || a != b {
		t.Fatalf("the two sign-ins have sids %q and %q; want one Hydra login session", a, b)
	}
	for i := range s.Replicas {
		if r := s.OnReplica(i, other, http.MethodGet, "/auth/session"); r.StatusCode != http.StatusOK {
			t.Fatalf("replica %d, the other session before logout: %d", i, r.StatusCode)
		}
	}
	r := s.Get(s.LogoutURL())
	if r.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d %s", r.StatusCode, r.Text)
	}
	h.Follow(t, s.Client, r.Header.Get("Location"))
	began := time.Now()
	for i := range s.Replicas {
		for s.OnReplica(i, other, http.MethodGet, "/auth/session").StatusCode != http.StatusUnauthorized {
			if time.Since(began) > 10*time.Second {
				t.Fatalf("replica %d still serves the other session 10 s after Hydra's logout\nHydra's log:\n%s", i, h.Log())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("the other session was over on both replicas %v after Hydra's logout page answered", time.Since(began).Round(time.Millisecond))
	if !strings.Contains(s.Logs.String(), `"msg":"back-channel logout"`) {
		t.Error("bff logged no back-channel logout")
	}
}

// testHydraOneRefresh: 100 requests of one session, its access token
// expired, racing over two replicas: Hydra sees one refresh grant (every
// request reaches the upstream with the same new access token), and none
// fails; the refresh token before is inactive, the one after active.
func testHydraOneRefresh(t *testing.T, h *hydra.Hydra) {
	s := redisStack(t, h)
	s.Login()
	before := s.Session()
	cookies := s.SessionCookies()
	s.Clock.Advance(accessTTL)

	const n = 100
	statuses := s.Race(n, cookies, "/api/race")
	tally := map[int]int{}
	for _, st := range statuses {
		tally[st]++
	}
	bearers := map[string]bool{}
	for {
		saw, ok := s.Upstream.Take()
		if !ok {
			break
		}
		bearers[saw.Authorization] = true
	}
	t.Logf("%d racing requests over 2 replicas: statuses %v, %d access token(s) reached the upstream", n, tally, len(bearers))
	if tally[http.StatusOK] != n || len(bearers) != 1 {
		t.Errorf("want %d × 200 and one refreshed access token", n)
	}
	if h.Introspect(t, before.RefreshToken).Active {
		t.Error("the refresh token from before the race is still active: it was not redeemed")
	}
	for bearer := range bearers {
		if !h.Introspect(t, strings.TrimPrefix(bearer, "Bearer ")).Active {
			t.Error("the access token the upstream got is not active at Hydra")
		}
	}
}

// sid is an ID token's sid claim. The token came out of a sealed session,
// so it was verified when it went in.
func sid(t *testing.T, idToken string) string {
	t.Helper()
	sid, _ := kit.JWTClaims(t, idToken)["sid"].(string)
	return sid
}
