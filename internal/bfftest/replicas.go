package bfftest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// OnReplica sends one request carrying cookies straight to replica i,
// past the front, as the SPA's JavaScript would (X-CSRF).
func (s *Stack) OnReplica(i int, cookies []*http.Cookie, method, path string) Response {
	s.T.Helper()
	r, err := s.sendToReplica(i, cookies, method, path)
	if err != nil {
		s.T.Fatal(err)
	}
	return r
}

func (s *Stack) sendToReplica(i int, cookies []*http.Cookie, method, path string) (Response, error) {
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer c.CloseIdleConnections()
	var pairs []string
	for _, ck := range cookies {
		pairs = append(pairs, ck.Name+"="+ck.Value)
	}
	return Send(c, method, "http://"+s.Replicas[i].Addr, path, nil, "X-CSRF", "1", "Cookie", strings.Join(pairs, "; "))
}

// Race sends n GETs of path carrying cookies at the same moment, spread
// over the replicas in turn, and returns their statuses: one session's
// requests racing, as a page's burst does.
func (s *Stack) Race(n int, cookies []*http.Cookie, path string) []int {
	s.T.Helper()
	statuses := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			r, err := s.sendToReplica(i%len(s.Replicas), cookies, http.MethodGet, path)
			statuses[i], errs[i] = r.StatusCode, err
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.T.Fatal(err)
	}
	return statuses
}

// LogoutURL is the logoutUrl that /auth/session gives the client's
// session, as the SPA reads it.
func (s *Stack) LogoutURL() string {
	s.T.Helper()
	return LogoutURL(s.T, s.API("/auth/session"))
}

// LogoutURL is the logoutUrl of session, an answer of /auth/session.
func LogoutURL(t testing.TB, session Response) string {
	t.Helper()
	var s struct {
		LogoutURL string `json:"logoutUrl"`
	}
	if err := json.Unmarshal([]byte(session.Text), &s); err != nil || s.LogoutURL == "" {
		t.Fatalf("no logoutUrl in the session (%d): %v", session.StatusCode, err)
	}
	return s.LogoutURL
}

// ExpiresSession reports whether r expires every session chunk it names,
// and names at least one: a session bff has given up on.
func ExpiresSession(r Response) bool {
	n := 0
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, "__Host-bff-session") {
			if c.MaxAge >= 0 {
				return false
			}
			n++
		}
	}
	return n > 0
}
