package bfftest

import (
	"errors"
	"net/http"
	"testing"

	"bff/cookie"
	"bff/oidc"
)

// Session opens the session the stack's client holds, as bff does, so a
// test can see the tokens bff keeps for it; nil when it holds none.
func (s *Stack) Session() *oidc.Session {
	s.T.Helper()
	return OpenSession(s.T, s.Key, s.SessionCookies())
}

// OpenSession opens the session that cookies (its chunks) seal under
// key; nil when there is no session cookie among them.
func OpenSession(t testing.TB, key Key, cookies []*http.Cookie) *oidc.Session {
	t.Helper()
	r := &http.Request{Header: http.Header{}}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	sealed, err := cookie.Chunked{Name: oidc.SessionCookie}.Read(r)
	if errors.Is(err, cookie.ErrNoCookie) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading the session cookie: %v", err)
	}
	plain, _, err := key.Ring(t).Open("session", sealed) // package oidc's sealing purpose
	if err != nil {
		t.Fatalf("opening the session cookie: %v", err)
	}
	var s oidc.Session
	if err := s.UnmarshalBinary(plain); err != nil {
		t.Fatalf("decoding the session: %v", err)
	}
	return &s
}
