package oidc_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"bff/internal/bfftest"
	"bff/oidc"
)

// The callback fuzz input is a raw query string in which these marks stand
// for the live state and a real authorization code, so the fuzzer can
// rearrange, repeat and damage a genuine callback.
const (
	stateMark = "STATE"
	codeMark  = "CODE"
)

// callbackRig is an OP and an Auth with no server in front: the fuzz
// target calls the handler directly, and only the code exchange goes over
// loopback.
type callbackRig struct {
	op      *bfftest.OP
	auth    *oidc.Auth
	browser *http.Client
}

func newCallbackRig(f *testing.F) *callbackRig {
	f.Helper()
	public, _ := url.Parse("https://app.example")
	r := &callbackRig{op: bfftest.StartOP(f, public, bfftest.OPOptions{})}
	r.auth = discovered(f, bfftest.AuthConfig(f, r.op, public, bfftest.NewKey(f), nil, nil))
	r.browser, _ = bfftest.NewClient(f)
	return r
}

// attempt is one started login: the login-state cookie bff set, and the
// state and authorize URL it redirected to.
type attempt struct {
	cookie    *http.Cookie
	state     string
	authorize string
}

func (r *callbackRig) start(t *testing.T) attempt {
	t.Helper()
	rec := httptest.NewRecorder()
	r.auth.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/login?returnTo=/fuzz%3Fx%3D1", nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	var a attempt
	for _, c := range rec.Result().Cookies() {
		if strings.HasPrefix(c.Name, "__Host-bff-login-") {
			a.cookie = &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	a.authorize = rec.Header().Get("Location")
	u, err := url.Parse(a.authorize)
	if err != nil || a.cookie == nil {
		t.Fatalf("login gave no cookie or a bad redirect %q", a.authorize)
	}
	a.state = u.Query().Get("state")
	return a
}

// code has the OP issue an authorization code for the attempt.
func (r *callbackRig) code(t *testing.T, a attempt) string {
	t.Helper()
	return r.op.Login(t, r.browser, a.authorize).Query().Get("code")
}

// FuzzCallbackQuery sends arbitrary callback queries, with a genuine login
// cookie, to /auth/callback. It must never answer 5xx or leak a token, and
// it must set a session exactly when the query carries the attempt's own
// state and the code the OP issued for it, and no error.
func FuzzCallbackQuery(f *testing.F) {
	for _, q := range []string{
		"state=STATE&code=CODE",
		"code=CODE&state=STATE",
		"state=STATE&code=CODE&iss=x&session_state=y",
		"state=STATE&code=CODE&code=other",
		"state=STATE&code=other&code=CODE",
		"state=STATE&state=other&code=CODE",
		"state=other&state=STATE&code=CODE",
		"state=STATE&code=CODE&error=access_denied",
		"state=STATE&error=access_denied&error_description=%3Cscript%3E",
		"state=STATE&error=%00%ff&error_description=x",
		"state=STATE&code=CODE;x=1",
		"state=STATE;&code=CODE",
		"state=STATE&code=CODEx",
		"state=STATEx&code=CODE",
		"state=STAT&code=CODE",
		"state=%53TATE&code=CODE",
		"state=STATE&code=",
		"state=STATE",
		"code=CODE",
		"state=STATE&code=%ff%fe",
		"state=STATE&code=" + strings.Repeat("A", 4096),
		"state=../../x&code=CODE",
		"state=STATE&code=CODE&returnTo=//evil.com",
		"",
		"&&&",
		"%",
		"state=%zz&code=CODE",
	} {
		f.Add(q)
	}
	r := newCallbackRig(f)
	f.Fuzz(func(t *testing.T, raw string) {
		a := r.start(t)
		code := ""
		if strings.Contains(raw, codeMark) {
			code = r.code(t, a)
		}
		raw = strings.ReplaceAll(raw, stateMark, a.state)
		raw = strings.ReplaceAll(raw, codeMark, code)

		req := httptest.NewRequest(http.MethodGet, "/auth/callback", nil)
		req.URL.RawQuery = raw
		req.AddCookie(a.cookie)
		rec := httptest.NewRecorder()
		r.auth.ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("query %q: status %d %s", raw, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			if _, err := bfftest.CheckErrorPage(rec.Header(), rec.Body.String()); err != nil {
				t.Errorf("query %q: status %d: %v", raw, rec.Code, err)
			}
		}
		dump := rec.Body.String() + strings.Join(rec.Header().Values("Set-Cookie"), "\n") + rec.Header().Get("Location")
		for _, s := range append(r.op.IssuedTokens(), r.op.ClientSecret) {
			if strings.Contains(dump, s) {
				t.Fatalf("query %q: response carries a token or the client secret", raw)
			}
		}

		q, _ := url.ParseQuery(raw) // what the handler reads: bad pairs dropped
		genuine := code != "" && q.Get("state") == a.state && q.Get("code") == code && q.Get("error") == ""
		session := setsSession(rec.Result())
		switch {
		case session && !genuine:
			t.Fatalf("query %q set a session", raw)
		case genuine && !session:
			t.Fatalf("genuine query %q: no session (status %d %s)", raw, rec.Code, rec.Body)
		case genuine && (rec.Code != http.StatusFound || rec.Header().Get("Location") != "/fuzz?x=1"):
			t.Fatalf("genuine query %q: %d to %q", raw, rec.Code, rec.Header().Get("Location"))
		}
	})
}

// setsSession reports whether a response stores a session (as opposed to
// expiring one).
func setsSession(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, oidc.SessionCookie) && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}
