// Package idptest watches and steers the demo OpenID provider (package
// idp) from tests: a [Recorder] counts what the OP served and keeps every
// token it issued, so a test can assert that none of them shows up where it
// must not; [Login] fills in the OP's login form as a browser would.
//
// Nothing here is part of the OP itself: the Recorder only sees the OP's
// HTTP traffic and steers it through its public endpoints, so the demo
// binary carries none of it.
package idptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// The OP's endpoints, relative to its issuer (see package idp).
const (
	TokenPath      = "/oauth/token"
	RevocationPath = "/revoke"
	EndSessionPath = "/end_session"
	UserinfoPath   = "/userinfo"
)

// Counts is what the OP has served so far.
type Counts struct {
	AuthCodeGrants int // successful authorization_code exchanges
	RefreshGrants  int // successful refresh_token grants
	RefreshRefused int // refresh_token grants refused (invalid_grant etc.)
	Revocations    int // calls to the revocation endpoint
	RevokeRefused  int // calls the revocation endpoint answered with an error
	EndSessions    int // calls to end_session
	UserinfoCalls  int // calls to the userinfo endpoint
}

// Recorder serves an OP handler, mounted as the OP expects (the issuer's
// path stripped), and records what it serves. Safe for concurrent use.
type Recorder struct {
	next                   http.Handler
	clientID, clientSecret string

	mu     sync.Mutex
	counts Counts
	issued []string
}

// Record wraps op. The client credentials are those of the OP's client,
// which [Recorder.RevokeAll] authenticates with.
func Record(op http.Handler, clientID, clientSecret string) *Recorder {
	return &Recorder{next: op, clientID: clientID, clientSecret: clientSecret}
}

// ServeHTTP counts the request and passes it on. Calls are counted before
// the OP answers, so a count is up to date by the time the caller sees the
// response; a token response is held back until its tokens are recorded,
// so a client never holds a token IssuedTokens does not list yet.
func (rec *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasSuffix(r.URL.Path, TokenPath):
		rec.serveToken(w, r)
		return
	case strings.HasSuffix(r.URL.Path, RevocationPath):
		rec.count(func(c *Counts) { c.Revocations++ })
		if status, _ := rec.relay(w, r); status != http.StatusOK {
			rec.count(func(c *Counts) { c.RevokeRefused++ })
		}
		return
	case strings.HasSuffix(r.URL.Path, EndSessionPath):
		rec.count(func(c *Counts) { c.EndSessions++ })
	case strings.HasSuffix(r.URL.Path, UserinfoPath):
		rec.count(func(c *Counts) { c.UserinfoCalls++ })
	}
	rec.next.ServeHTTP(w, r)
}

func (rec *Recorder) count(f func(*Counts)) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	f(&rec.counts)
}

// Counts returns what the OP has served so far.
func (rec *Recorder) Counts() Counts {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.counts
}

// IssuedTokens returns every access, refresh and ID token the token
// endpoint has handed out so far, in order.
func (rec *Recorder) IssuedTokens() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.issued)
}

// RevokeAll revokes every token the OP issued through its revocation
// endpoint, as an administrator ending all sessions would: the next refresh
// is refused with invalid_grant (HTTP 400), and userinfo refuses the access
// tokens, which remain valid JWTs until they expire, as at any OP. The
// calls are not counted as Revocations.
func (rec *Recorder) RevokeAll() error {
	for _, tok := range rec.IssuedTokens() {
		req := httptest.NewRequest(http.MethodPost, RevocationPath, strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(rec.clientID), url.QueryEscape(rec.clientSecret))
		w := httptest.NewRecorder()
		rec.next.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			return fmt.Errorf("revoking a token: %d", w.Code)
		}
	}
	return nil
}

func (rec *Recorder) serveToken(w http.ResponseWriter, r *http.Request) {
	var grant string
	if err := r.ParseForm(); err == nil {
		// The OP parses the same form again; ParseForm keeps its result, so
		// the body is not read twice.
		grant = r.Form.Get("grant_type")
	}
	rec.relay(w, r, func(status int, body []byte) { rec.recordGrant(grant, status, body) })
}

// relay serves r with the OP, holding the response back until record has
// seen it, and returns its status.
func (rec *Recorder) relay(w http.ResponseWriter, r *http.Request, record ...func(status int, body []byte)) (int, []byte) {
	buf := httptest.NewRecorder()
	rec.next.ServeHTTP(buf, r)
	for _, f := range record {
		f(buf.Code, buf.Body.Bytes())
	}
	for k, v := range buf.Header() {
		w.Header()[k] = slices.Clone(v)
	}
	w.WriteHeader(buf.Code)
	_, _ = w.Write(buf.Body.Bytes())
	return buf.Code, buf.Body.Bytes()
}

func (rec *Recorder) recordGrant(grant string, status int, body []byte) {
	var tokens []string
	if status == http.StatusOK {
		var resp struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&resp); err == nil {
			for _, t := range []string{resp.AccessToken, resp.RefreshToken, resp.IDToken} {
				if t != "" {
					tokens = append(tokens, t)
				}
			}
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.issued = append(rec.issued, tokens...)
	switch {
	case grant == "authorization_code" && status == http.StatusOK:
		rec.counts.AuthCodeGrants++
	case grant == "refresh_token" && status == http.StatusOK:
		rec.counts.RefreshGrants++
	case grant == "refresh_token":
		rec.counts.RefreshRefused++
	}
}
