package oidc_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"bff/cookie"
	"bff/internal/bfftest"
	"bff/oidc"
)

func TestSessionNeedsCSRFHeader(t *testing.T) {
	e := newEnv(t)
	e.login()
	for _, tc := range []struct {
		headers []string
		want    int
	}{
		{nil, http.StatusForbidden},
		{[]string{"X-CSRF", "0"}, http.StatusForbidden},
		{[]string{"X-CSRF", "true"}, http.StatusForbidden},
		{[]string{"X-CSRF", "1"}, http.StatusOK},
	} {
		resp := e.get("/auth/session", tc.headers...)
		if resp.StatusCode != tc.want {
			t.Errorf("headers %q: %d, want %d", tc.headers, resp.StatusCode, tc.want)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q", got)
		}
	}
	anon, _ := bfftest.NewClient(t)
	if resp := e.do(anon, "/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %d, want 401", resp.StatusCode)
	}
}

func logoutURL(t *testing.T, e *env) string {
	t.Helper()
	resp := e.get("/auth/session", "X-CSRF", "1")
	b := body(t, resp)
	i := strings.Index(b, `"logoutUrl":"`)
	if i < 0 {
		t.Fatalf("no logoutUrl in %s", b)
	}
	rest := b[i+len(`"logoutUrl":"`):]
	return strings.ReplaceAll(rest[:strings.IndexByte(rest, '"')], `\u0026`, "&")
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	e.login()
	good := logoutURL(t, e)

	// A wrong sid clears nothing.
	bad := e.get("/auth/logout?sid=nope")
	if bad.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong sid: %d, want 400", bad.StatusCode)
	}
	if len(bad.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("wrong sid cleared cookies: %q", bad.Header.Values("Set-Cookie"))
	}
	if resp := e.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("session after wrong sid: %d", resp.StatusCode)
	}

	resp := e.get(good)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), e.op.Issuer) || loc.Query().Get("id_token_hint") == "" ||
		loc.Query().Get("post_logout_redirect_uri") != e.public.String()+"/" {
		t.Errorf("logout redirect = %s", loc)
	}
	expired := 0
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, oidc.SessionCookie) && strings.Contains(line, "Max-Age=0") {
			expired++
		}
	}
	if expired == 0 {
		t.Errorf("logout expired no session cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if s := e.get("/auth/session", "X-CSRF", "1"); s.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout: %d", s.StatusCode)
	}
	if c := e.op.Counts(); c.Revocations != 1 {
		t.Errorf("refresh token not revoked: %+v", c)
	}
	// The OP accepts the hint and sends the browser back.
	end, err := e.client.Get(loc.String())
	if err != nil {
		t.Fatal(err)
	}
	end.Body.Close()
	if got := end.Header.Get("Location"); got != e.public.String()+"/" {
		t.Errorf("end_session sent the browser to %q (status %d)", got, end.StatusCode)
	}
}

// setCookies replaces the browser's cookies for bff.
func (e *env) setCookies(cs []*http.Cookie) {
	c, jar := bfftest.NewClient(e.t)
	jar.SetCookies(e.public, cs)
	e.client, e.jar = c, jar
}

func sessionValue(t *testing.T, e *env) []*http.Cookie {
	t.Helper()
	var out []*http.Cookie
	for _, c := range e.sessionCookies() {
		if strings.HasPrefix(c.Name, oidc.SessionCookie) {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	if len(out) == 0 {
		t.Fatal("no session cookie")
	}
	return out
}

func TestDamagedCookiesAreNoSession(t *testing.T) {
	e := newEnv(t)
	e.login()
	orig := sessionValue(t, e)
	v := orig[0].Value
	parts := strings.Split(v, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := map[string][]*http.Cookie{
		"tampered ciphertext":     {{Name: orig[0].Name, Value: strings.Join([]string{parts[0], parts[1], parts[2], flip(parts[3], len(parts[3])/2), parts[4]}, ".")}},
		"tampered tag":            {{Name: orig[0].Name, Value: strings.Join([]string{parts[0], parts[1], parts[2], parts[3], flip(parts[4], 3)}, ".")}},
		"tampered header":         {{Name: orig[0].Name, Value: flip(v, 5)}},
		"truncated":               {{Name: orig[0].Name, Value: v[:len(v)/2]}},
		"reordered segments":      {{Name: orig[0].Name, Value: strings.Join([]string{parts[0], parts[1], parts[3], parts[2], parts[4]}, ".")}},
		"garbage":                 {{Name: orig[0].Name, Value: "garbage"}},
		"empty":                   {{Name: orig[0].Name, Value: ""}},
		"chunk without .0":        {{Name: oidc.SessionCookie + ".1", Value: v}},
		"split and reordered":     {{Name: oidc.SessionCookie + ".0", Value: v[len(v)/2:]}, {Name: oidc.SessionCookie + ".1", Value: v[:len(v)/2]}},
		"login cookie as session": {{Name: oidc.SessionCookie, Value: loginCookieValue(t, e)}},
	}
	for name, cs := range cases {
		t.Run(name, func(t *testing.T) {
			e.setCookies(cs)
			for _, path := range []string{"/auth/session", "/api/x"} {
				resp := e.get(path, "X-CSRF", "1")
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s: %d, want 401", path, resp.StatusCode)
				}
			}
		})
	}
	// The genuine cookie still works, so the cases above failed for their damage.
	e.setCookies(orig)
	if resp := e.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("genuine cookie: %d", resp.StatusCode)
	}
}

// loginCookieValue returns a genuine login-state cookie: sealed with the
// same keys as the session, but for another purpose.
func loginCookieValue(t *testing.T, e *env) string {
	t.Helper()
	c, _ := bfftest.NewClient(t)
	resp := e.do(c, "/auth/login?returnTo=/")
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, "__Host-bff-login-") {
			return ck.Value
		}
	}
	t.Fatal("no login cookie")
	return ""
}

func TestKeyRotation(t *testing.T) {
	k1, k2 := bfftest.NewKey(t).Raw, bfftest.NewKey(t).Raw
	ring := func(keys ...[]byte) *cookie.Keys {
		r, err := cookie.NewKeys(keys...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	e := newEnv(t, func(c *oidc.Config) { c.Keys = ring(k1) })
	e.login()
	sealedK1 := sessionValue(t, e)

	// A replica on "K2,K1" opens the K1 session and reseals it with K2.
	rotated := e.withKeys(ring(k2, k1))
	rotated.setCookies(sealedK1)
	resp := rotated.get("/auth/session", "X-CSRF", "1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("K1 session under K2,K1: %d", resp.StatusCode)
	}
	if len(resp.Header.Values("Set-Cookie")) == 0 {
		t.Fatal("K1 session was not resealed with K2")
	}
	resealed := sessionValue(t, rotated)

	// K2 alone opens the resealed cookie, not the original.
	k2only := e.withKeys(ring(k2))
	k2only.setCookies(resealed)
	if resp := k2only.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
		t.Errorf("resealed session under K2: %d", resp.StatusCode)
	}
	k2only.setCookies(sealedK1)
	if resp := k2only.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("K1 session under K2 alone: %d, want 401", resp.StatusCode)
	}
	// Another deployment's key is as good as none.
	other := e.withKeys(bfftest.NewKey(t).Ring(t))
	other.setCookies(sealedK1)
	if resp := other.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("foreign key: %d, want 401", resp.StatusCode)
	}
}

func TestSessionLimits(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := newEnv(t)
		e.login()
		e.clock.Advance(59 * time.Minute)
		if resp := e.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
			t.Fatalf("at 59 min idle: %d", resp.StatusCode)
		}
		// That request slid the idle window: another 59 minutes is fine.
		e.clock.Advance(59 * time.Minute)
		if resp := e.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after activity: %d", resp.StatusCode)
		}
		e.clock.Advance(61 * time.Minute)
		resp := e.get("/auth/session", "X-CSRF", "1")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("after 61 min idle: %d, want 401", resp.StatusCode)
		}
		if !expiresSession(resp) {
			t.Error("an expired session's cookie was not cleared")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		e := newEnv(t)
		e.login()
		for range 12 {
			e.clock.Advance(59 * time.Minute)
			if resp := e.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusOK {
				t.Fatalf("within 12h: %d", resp.StatusCode)
			}
		}
		e.clock.Advance(59 * time.Minute) // 12 x 59m = 11h48m; 13 x 59m > 12h
		if resp := e.get("/auth/session", "X-CSRF", "1"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("past 12h: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("reseal at most once a minute", func(t *testing.T) {
		e := newEnv(t)
		e.login()
		if resp := e.get("/auth/session", "X-CSRF", "1"); len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Error("resealed right after login")
		}
		e.clock.Advance(61 * time.Second)
		if resp := e.get("/auth/session", "X-CSRF", "1"); len(resp.Header.Values("Set-Cookie")) == 0 {
			t.Error("not resealed after a minute")
		}
	})
}

func expiresSession(resp *http.Response) bool {
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, oidc.SessionCookie) && strings.Contains(line, "Max-Age=0") {
			return true
		}
	}
	return false
}
