package oidc_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"bff/cookie"
	"bff/demo/idp"
	"bff/oidc"
)

// appBase is the origin a returnTo must never leave.
const appBase = "https://app.example/"

// FuzzIsLocalPath checks the open-redirect guard against two readers of
// the Location header: Go's URL resolver and a browser, which strips tabs
// and newlines and reads a backslash as a slash before resolving. Whatever
// IsLocalPath accepts, and what http.Redirect turns it into, must stay on
// the origin for both.
func FuzzIsLocalPath(f *testing.F) {
	for _, s := range []string{
		"/", "/app?x=1", "/a/b?c=d#e", "/café", "/user@host", "/%2F%2Fevil.com", "/%5Cevil.com",
		"//evil.com", "/\\evil.com", "\\/\\/evil.com", "/\t/evil.com", "/\n/evil.com", "/\r/evil.com",
		"/%09/evil.com", "/ /evil.com", "／／evil.com", "/／evil.com", "https:evil.com", "https://evil.com",
		"javascript:alert(1)", "data:text/html,<script>1</script>", "@evil.com", "/@evil.com",
		"/..//evil.com", "/.//evil.com", "/./\\evil.com", "/#//evil.com", "/?//evil.com", "/?\\evil.com",
		"/\x7f/evil.com", "/\xff/evil.com", "/\u2028/evil.com", " /evil.com", "/\x00/evil.com",
		"/" + strings.Repeat("a", 2047), "/" + strings.Repeat("a", 2048),
	} {
		f.Add(s)
	}
	base, err := url.Parse(appBase)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !oidc.IsLocalPath(s) {
			return
		}
		// The callback redirects with http.Redirect, which cleans the path:
		// the browser reads that, not s itself.
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest(http.MethodGet, "/auth/callback", nil), s, http.StatusFound)
		loc := rec.Header().Get("Location")
		for _, v := range []string{s, loc} {
			if host := goHost(base, v); host != base.Host && host != "" {
				t.Fatalf("IsLocalPath(%q) = true, but Go resolves %q to host %q", s, v, host)
			}
			if host := browserHost(base, v); host != base.Host {
				t.Fatalf("IsLocalPath(%q) = true, but a browser resolves %q to host %q", s, v, host)
			}
		}
	})
}

// goHost resolves ref against base the way a Go client following the
// redirect would; "" means Go cannot parse it, so would not follow it.
func goHost(base *url.URL, ref string) string {
	u, err := url.Parse(ref)
	if err != nil {
		return ""
	}
	resolved := base.ResolveReference(u)
	// Printing and reparsing catches a path that serializes as "//host".
	again, err := url.Parse(resolved.String())
	if err != nil || again.Host != resolved.Host {
		return "<reparsed " + resolved.String() + ">"
	}
	return resolved.Host
}

// browserHost approximates the WHATWG URL parser for a special scheme:
// leading and trailing C0 controls and spaces go, tabs and newlines
// anywhere go, a backslash is a slash, and then a scheme or a leading "//"
// leaves the origin.
func browserHost(base *url.URL, ref string) string {
	ref = strings.TrimFunc(ref, func(r rune) bool { return r <= 0x20 })
	ref = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, ref)
	if i := strings.IndexAny(ref, ":/?#"); i > 0 && ref[i] == ':' {
		return "<scheme " + ref[:i] + ">"
	}
	if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
		return "<network path " + ref + ">"
	}
	if host := goHost(base, ref); host != "" {
		return host
	}
	return base.Host // a path a browser would percent-encode and keep
}

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
	op      *idp.Provider
	auth    *oidc.Auth
	browser *http.Client
	secret  string
}

func newCallbackRig(f *testing.F) *callbackRig {
	f.Helper()
	public, _ := url.Parse("https://app.example")
	opMux := http.NewServeMux()
	opServer := httptest.NewServer(opMux)
	f.Cleanup(opServer.Close)
	issuer := opServer.URL + "/idp"
	r := &callbackRig{secret: "fuzz-secret-" + rand.Text()}
	var err error
	r.op, err = idp.New(idp.Config{
		Issuer: issuer, ClientID: "bff-fuzz", ClientSecret: r.secret,
		RedirectURIs: []string{public.String() + "/auth/callback"},
	})
	if err != nil {
		f.Fatal(err)
	}
	opMux.Handle("/idp/", http.StripPrefix("/idp", r.op))
	key := make([]byte, cookie.KeySize)
	rand.Read(key)
	keys, err := cookie.NewKeys(key)
	if err != nil {
		f.Fatal(err)
	}
	r.auth, err = oidc.New(oidc.Config{
		Issuer: issuer, ClientID: "bff-fuzz", ClientSecret: r.secret, PublicURL: public,
		Scopes:        []string{"openid", "profile", "email", "offline_access"},
		SessionMaxAge: time.Hour, SessionIdle: time.Hour, Keys: keys,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
	})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.auth.Discover(ctx); err != nil {
		f.Fatal(err)
	}
	r.browser = &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
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
	cb, err := idp.Login(context.Background(), r.browser, a.authorize, "demo", "demo")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("code")
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
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("query %q: status %d with Content-Type %q", raw, rec.Code, ct)
			}
			var p struct{ Status int }
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code {
				t.Errorf("query %q: problem body %q", raw, rec.Body)
			}
		}
		dump := rec.Body.String() + strings.Join(rec.Header().Values("Set-Cookie"), "\n") + rec.Header().Get("Location")
		for _, s := range append(r.op.IssuedTokens(), r.secret) {
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
