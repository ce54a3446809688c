package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"bff/demo/idp/idptest"
	"bff/internal/bfftest"
)

// TestClientAuthentication runs a whole session against an OP that holds
// the client to one way of authenticating, as Hydra does: the code
// exchange, the refresh and the revocation at logout must all use it.
func TestClientAuthentication(t *testing.T) {
	for _, method := range []string{"client_secret_basic", "client_secret_post"} {
		t.Run(method, func(t *testing.T) {
			s := bfftest.NewStack(t, bfftest.StackOptions{OP: bfftest.OPOptions{ClientAuth: method}})
			s.Login()
			s.Clock.Advance(2 * time.Minute)
			if r := s.API("/api/x"); r.StatusCode != http.StatusOK {
				t.Fatalf("refresh: %d", r.StatusCode)
			}
			logout := s.LogoutURL()
			if r := s.Get(logout); r.StatusCode != http.StatusFound {
				t.Fatalf("logout: %d", r.StatusCode)
			}
			want := idptest.Counts{AuthCodeGrants: 1, RefreshGrants: 1, Revocations: 1, EndSessions: 0}
			got := s.OP.Counts()
			got.UserinfoCalls = 0
			if got != want {
				t.Errorf("OP counts %+v, want %+v: a call used the other method", got, want)
			}
			if strings.Contains(s.Logs.String(), "revoking refresh token failed") {
				t.Error("bff logged a failed revocation")
			}
		})
	}
}
