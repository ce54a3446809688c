package redis_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// TestOneRefreshAcrossReplicas: an OP that refuses any reuse of a refresh
// token (strict rotation, no grace period), two replicas, and 100
// requests of one session racing past its access token's expiry, split
// over both. With Redis the OP sees exactly one refresh grant and every
// request succeeds with the same new access token; without it, each
// replica redeems the token and the loser's requests fail, which is what
// this proves the race reaches.
func TestOneRefreshAcrossReplicas(t *testing.T) {
	for _, redis := range []bool{true, false} {
		name := map[bool]string{true: "redis", false: "stateless"}[redis]
		t.Run(name, func(t *testing.T) {
			o := bfftest.StackOptions{Replicas: 2} // OP: strict rotation
			var s *bfftest.Stack
			if redis {
				s = withRedis(t, bfftest.RedisDB(t), o)
			} else {
				s = bfftest.NewStack(t, o)
			}
			s.Login()
			cookies := s.SessionCookies()
			s.Clock.Advance(2 * time.Minute) // the access token is past its expiry

			const n = 100
			statuses := make([]int, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					statuses[i] = onReplica(t, s, i%2, cookies, http.MethodGet, "/api/race").StatusCode
				})
			}
			began := time.Now()
			close(start)
			wg.Wait()
			took := time.Since(began)

			tally := map[int]int{}
			for _, st := range statuses {
				tally[st]++
			}
			c := s.OP.Counts()
			t.Logf("%d racing requests over 2 replicas in %v: statuses %v; OP: %d refresh grants, %d refused",
				n, took.Round(time.Millisecond), tally, c.RefreshGrants, c.RefreshRefused)
			if !redis {
				if c.RefreshRefused == 0 {
					t.Error("without Redis both replicas should have redeemed the token, and the OP refused one")
				}
				return
			}
			if tally[http.StatusOK] != n || c.RefreshGrants != 1 || c.RefreshRefused != 0 {
				t.Errorf("want %d × 200 and exactly 1 refresh grant, none refused", n)
			}
			tokens := map[string]bool{}
			for {
				saw, ok := s.Upstream.Take()
				if !ok {
					break
				}
				tokens[saw.Authorization] = true
			}
			if len(tokens) != 1 {
				t.Errorf("the upstream saw %d different access tokens, want the one refreshed", len(tokens))
			}
		})
	}
}
