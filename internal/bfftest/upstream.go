package bfftest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Saw is what an upstream received of one request.
type Saw struct {
	Method        string
	Path          string
	RawPath       string
	Query         string
	Authorization string
	Cookie        string
	CSRF          string // X-CSRF, which bff must not forward
	XFF           string // X-Forwarded-For
	XFHost        string // X-Forwarded-Host
	Header        http.Header
}

// Upstream is an API behind bff that reports every request it receives.
// By default it answers 200 with {"path": ..., "ok": "yes"}.
type Upstream struct {
	*httptest.Server
	seen chan Saw
}

// NewUpstream starts an upstream serving h, or the echo answer when h is
// nil, and recording what each request carried. It stops when the test
// ends.
func NewUpstream(t testing.TB, h http.Handler) *Upstream {
	t.Helper()
	u := &Upstream{seen: make(chan Saw, 1024)}
	if h == nil {
		h = http.HandlerFunc(echo)
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw := Saw{
			Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath, Query: r.URL.RawQuery,
			Authorization: r.Header.Get("Authorization"), Cookie: r.Header.Get("Cookie"),
			CSRF: r.Header.Get("X-CSRF"), XFF: r.Header.Get("X-Forwarded-For"),
			XFHost: r.Header.Get("X-Forwarded-Host"), Header: r.Header.Clone(),
		}
		select {
		case u.seen <- saw:
		default: // a test that does not look loses nothing by this
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "ok": "yes"})
}

// Last returns the oldest request not yet taken, waiting up to 5 s for
// one.
func (u *Upstream) Last(t testing.TB) Saw {
	t.Helper()
	select {
	case saw := <-u.seen:
		return saw
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream saw nothing")
		return Saw{}
	}
}

// Take returns the oldest request not yet taken, if there is one, without
// waiting.
func (u *Upstream) Take() (Saw, bool) {
	select {
	case saw := <-u.seen:
		return saw, true
	default:
		return Saw{}, false
	}
}

// Drain forgets every request seen so far.
func (u *Upstream) Drain() {
	for {
		select {
		case <-u.seen:
		default:
			return
		}
	}
}

// Nothing reports whether no request has arrived since the last Drain or
// Last.
func (u *Upstream) Nothing() bool { return len(u.seen) == 0 }
