package lambda

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"bff/cookie"
	"bff/internal/bfftest"
)

// accessTTL is the OP's access-token lifetime in the flow: bff refreshes a
// token within 30 s of its expiry, so the flow's calls in the first 6 s go
// out on the token from the login, and a call after that refreshes it.
const accessTTL = 36 * time.Second

// TestFunctionURLFlow signs a browser in and out through the function URL
// in both invoke modes: login, callback, session, proxied calls with text
// and binary bodies both ways and an event stream, a refresh, logout, and
// a call after it. Every result's status and every Set-Cookie line in its
// cookies are checked.
func TestFunctionURLFlow(t *testing.T) {
	eachMode(t, func(t *testing.T, bin string, buffered bool) {
		flow(t, deploy(t, bin, options{Buffered: buffered, Discovery: true, AccessTTL: accessTTL}))
	})
}

func flow(t *testing.T, f *function) {
	// A cookie of the SPA's own, which the upstream may see.
	f.Jar.SetCookies(public, []*http.Cookie{{Name: "theme", Value: "dark"}})

	start, done, issued := f.login(t)
	login := checkCookies(t, "login", start, http.StatusFound, want{"__Host-bff-login-*": live})
	session := checkCookies(t, "callback", done, http.StatusFound, want{"__Host-bff-session*": live, login[0]: expired})

	r := f.call(t, "/auth/session")
	checkCookies(t, "session", f.Last(), http.StatusOK, want{})
	if !strings.Contains(r.Text, `"sub":`) {
		t.Fatalf("session: %s", r.Text)
	}

	r = f.call(t, "/api/orders/7")
	checkCookies(t, "proxied call", f.Last(), http.StatusOK, want{})
	saw := f.Upstream.Last(t)
	if saw.Path != "/v1/orders/7" || !strings.HasPrefix(saw.Authorization, "Bearer ") || saw.Cookie != "theme=dark" ||
		saw.CSRF != "" || saw.XFF != sourceIP || saw.XFHost != public.Host {
		t.Errorf("the upstream saw path %q, authorization %.7q, cookie %q, X-CSRF %q, X-Forwarded-For %q, X-Forwarded-Host %q; want /v1/orders/7, a bearer token, theme=dark alone, none, %s, %s",
			saw.Path, saw.Authorization, saw.Cookie, saw.CSRF, saw.XFF, saw.XFHost, sourceIP, public.Host)
	}
	firstToken := saw.Authorization

	bodies(t, f)

	// Everything so far went out on the login's token.
	if c := f.OP.Counts(); c.RefreshGrants != 0 {
		t.Fatalf("%d refreshes %v after the callback: the calls took longer than the OP's token leaves before its refresh window",
			c.RefreshGrants, time.Since(issued).Round(time.Millisecond))
	}
	time.Sleep(time.Until(issued.Add(accessTTL - 30*time.Second + 500*time.Millisecond)))
	f.call(t, "/api/orders/8")
	refreshed := checkCookies(t, "refresh", f.Last(), http.StatusOK, want{"__Host-bff-session*": live})
	if saw := f.Upstream.Last(t); saw.Authorization == firstToken || !strings.HasPrefix(saw.Authorization, "Bearer ") {
		t.Error("the call after the refresh window did not carry a new access token")
	}
	if c := f.OP.Counts(); c.RefreshGrants != 1 {
		t.Errorf("OP counts %+v, want one refresh grant", c)
	}
	if strings.Join(refreshed, " ") != strings.Join(session, " ") {
		t.Errorf("the refresh set %q; the session was %q", refreshed, session)
	}

	r = f.call(t, "/auth/session")
	logoutURL := bfftest.LogoutURL(t, r)
	r = f.get(t, logoutURL)
	expiredAll := want{}
	for _, name := range session {
		expiredAll[name] = expired
	}
	checkCookies(t, "logout", f.Last(), http.StatusFound, expiredAll)
	if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, f.OP.Issuer) {
		t.Errorf("logout redirected to %q, want the OP's end_session endpoint", loc)
	}
	if c := f.OP.Counts(); c.Revocations != 1 {
		t.Errorf("OP counts %+v, want the refresh token revoked", c)
	}

	f.Upstream.Drain()
	r = f.call(t, "/api/orders/9")
	checkCookies(t, "call after logout", f.Last(), http.StatusUnauthorized, want{})
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" || !f.Upstream.Nothing() {
		t.Errorf("after logout: %s %q, upstream reached: %v", ct, r.Text, !f.Upstream.Nothing())
	}
}

// bodies sends text and binary bodies up, takes a binary body and an event
// stream down, and checks that every byte and length arrives.
func bodies(t *testing.T, f *function) {
	t.Helper()
	for _, up := range []struct {
		contentType string
		body        []byte
	}{
		{"application/octet-stream", blob},
		{"application/json", []byte(`{"name":"Zoë","note":"∑ ≠ 0"}`)},
	} {
		bfftest.Do(t, f.Client, http.MethodPost, public.String(), "/api/upload", bytes.NewReader(up.body),
			"X-CSRF", "1", "Content-Type", up.contentType)
		checkCookies(t, "upload "+up.contentType, f.Last(), http.StatusNoContent, want{})
		got := <-f.Uploads
		if !bytes.Equal(got.Body, up.body) || got.ContentLength != int64(len(up.body)) {
			t.Errorf("%s upload: the upstream got %d bytes (Content-Length %d), equal: %v; want the %d bytes sent",
				up.contentType, len(got.Body), got.ContentLength, bytes.Equal(got.Body, up.body), len(up.body))
		}
		f.Upstream.Last(t)
	}

	r := f.call(t, "/api/blob")
	checkCookies(t, "binary download", f.Last(), http.StatusOK, want{})
	if r.Text != string(blob) {
		t.Errorf("binary download: %d bytes, equal: %v; want the upstream's %d", len(r.Text), r.Text == string(blob), len(blob))
	}
	if f.Buffered && !f.Last().Base64 {
		t.Error("a buffered binary response came back without isBase64Encoded")
	}
	f.Upstream.Last(t)

	r = f.call(t, "/api/events")
	checkCookies(t, "event stream", f.Last(), http.StatusOK, want{})
	if ct := r.Header.Get("Content-Type"); ct != "text/event-stream" || r.Text != "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n" {
		t.Errorf("event stream: %q %q", ct, r.Text)
	}
	f.Upstream.Last(t)
}

const (
	live    = true
	expired = false
)

// want names the cookies a result must set (live) or expire, each exactly
// or, ending in "*", by prefix.
type want map[string]bool

// checkCookies checks a result's status and every Set-Cookie line in its
// cookies: each one parses, fits in cookie.MaxLine, carries bff's
// attributes, and is one of want, live or expired as want says; each of
// want is there. It returns the names of the live cookies, in order, or
// else of the expired ones.
func checkCookies(t *testing.T, step string, res bfftest.Result, status int, w want) []string {
	t.Helper()
	if res.Status != status {
		t.Fatalf("%s: status %d, want %d (%s)", step, res.Status, status, res.Body)
	}
	var liveNames, expiredNames []string
	seen := map[string]bool{}
	for _, line := range res.Cookies {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Errorf("%s: Set-Cookie %.40q...: %v", step, line, err)
			continue
		}
		if n := len("Set-Cookie: " + line); n > cookie.MaxLine {
			t.Errorf("%s: Set-Cookie %s is %d bytes, more than %d", step, c.Name, n, cookie.MaxLine)
		}
		sameSite := http.SameSiteStrictMode
		if strings.HasPrefix(c.Name, "__Host-bff-login-") {
			sameSite = http.SameSiteLaxMode
		}
		if c.Path != "/" || !c.Secure || !c.HttpOnly || c.Domain != "" || c.SameSite != sameSite {
			t.Errorf("%s: Set-Cookie %s lacks bff's attributes: %+v", step, c.Name, c)
		}
		key := c.Name
		if _, ok := w[key]; !ok {
			for pattern := range w {
				if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasPrefix(c.Name, prefix) {
					key = pattern
				}
			}
		}
		alive, ok := w[key]
		switch {
		case !ok:
			t.Errorf("%s: an unexpected Set-Cookie %s (Max-Age %d)", step, c.Name, c.MaxAge)
		case alive && c.MaxAge <= 0, !alive && c.MaxAge >= 0:
			t.Errorf("%s: Set-Cookie %s with Max-Age %d; want it live: %v", step, c.Name, c.MaxAge, alive)
		}
		seen[key] = true
		if c.MaxAge > 0 {
			liveNames = append(liveNames, c.Name)
		} else {
			expiredNames = append(expiredNames, c.Name)
		}
	}
	for name := range w {
		if !seen[name] {
			t.Errorf("%s: no Set-Cookie for %s among %d", step, name, len(res.Cookies))
		}
	}
	if len(liveNames) > 0 {
		return liveNames
	}
	return expiredNames
}
