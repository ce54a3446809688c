package idp_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"bff/demo/idp"
	"bff/demo/idp/idptest"
)

var hiddenID = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// loginPage follows the authorize redirect to the login form and returns its
// URL and the auth request id in it.
func (o *testOP) loginPage(t *testing.T) (pageURL, id, body string) {
	t.Helper()
	resp := o.do(t, http.MethodGet, o.authorize().url, nil, nil)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("authorize: %s without a Location", resp.Status)
	}
	if !strings.HasPrefix(loc.String(), o.issuer+"/login?") {
		t.Fatalf("authorize redirects to %s, want the login form under the issuer", loc)
	}
	resp = o.do(t, http.MethodGet, loc.String(), nil, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %s", resp.Status)
	}
	m := hiddenID.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("login page has no auth request id:\n%s", b)
	}
	return loc.String(), m[1], string(b)
}

func (o *testOP) postLogin(t *testing.T, id, username, password string) (*http.Response, string) {
	t.Helper()
	form := url.Values{"authRequestID": {id}, "username": {username}, "password": {password}}
	resp := o.do(t, http.MethodPost, o.issuer+"/login", form, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestLoginPage(t *testing.T) {
	o := newTestOP(t, nil)
	_, id, body := o.loginPage(t)
	if !strings.Contains(body, `action="`+o.issuer+`/login"`) {
		t.Errorf("form action is not the absolute login URL under the issuer:\n%s", body)
	}
	if !strings.Contains(body, "demo / demo") {
		t.Error("the default demo user's hint is missing")
	}
	if strings.Contains(body, "<script") {
		t.Error("the login page has a script")
	}

	resp := o.do(t, http.MethodGet, o.issuer+"/login?authRequestID="+url.QueryEscape(id), nil, nil)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	custom := newTestOP(t, func(c *idp.Config) {
		c.Users = []idp.User{{Subject: "u1", Username: "alice", Password: "wonderland"}}
	})
	if _, _, body := custom.loginPage(t); strings.Contains(body, "demo / demo") {
		t.Error("the demo hint is shown for a custom user list")
	}
}

func TestLoginWrongCredentials(t *testing.T) {
	o := newTestOP(t, nil)
	_, id, _ := o.loginPage(t)

	wrongPassword, wrongBody := o.postLogin(t, id, "demo", "nope")
	if wrongPassword.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %s, want 401", wrongPassword.Status)
	}
	if loc := wrongPassword.Header.Get("Location"); loc != "" {
		t.Errorf("wrong password redirected to %s", loc)
	}
	if !strings.Contains(wrongBody, "Invalid username or password") || !hiddenID.MatchString(wrongBody) {
		t.Errorf("wrong password: want the form again with an error:\n%s", wrongBody)
	}

	unknownUser, unknownBody := o.postLogin(t, id, "mallory", "nope")
	if unknownUser.StatusCode != wrongPassword.StatusCode ||
		strings.ReplaceAll(unknownBody, "mallory", "demo") != wrongBody {
		t.Error("an unknown username is answered differently from a wrong password")
	}

	// The request survives failed attempts: the right password still works.
	ok, _ := o.postLogin(t, id, "demo", "demo")
	if ok.StatusCode != http.StatusSeeOther && ok.StatusCode != http.StatusFound {
		t.Fatalf("right password: %s, want a redirect", ok.Status)
	}
	if loc := ok.Header.Get("Location"); !strings.HasPrefix(loc, o.issuer+"/") {
		t.Errorf("login redirects to %s, want op's callback under the issuer", loc)
	}

	// And it is spent: it cannot be logged in twice.
	again, _ := o.postLogin(t, id, "demo", "demo")
	if again.StatusCode != http.StatusBadRequest {
		t.Errorf("second login with the same request: %s, want 400", again.Status)
	}

	a := o.authorize()
	if _, err := idptest.Login(o.ctx, o.http, a.url, "demo", "wrong"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("Login with a wrong password: %v, want an error mentioning 401", err)
	}
	if c := o.rec.Counts(); c.AuthCodeGrants != 0 {
		t.Errorf("AuthCodeGrants = %d, want 0", c.AuthCodeGrants)
	}
}

func TestLoginUnknownRequest(t *testing.T) {
	o := newTestOP(t, nil)
	resp := o.do(t, http.MethodGet, o.issuer+"/login?authRequestID=nope", nil, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET with an unknown auth request: %s, want 400", resp.Status)
	}
	post, body := o.postLogin(t, "nope", "demo", "demo")
	if post.StatusCode != http.StatusBadRequest || hiddenID.MatchString(body) {
		t.Errorf("POST with an unknown auth request: %s, want 400 without a form", post.Status)
	}
}

func TestLoginClientMustNotFollowRedirects(t *testing.T) {
	o := newTestOP(t, nil)
	if _, err := idptest.Login(o.ctx, &http.Client{}, o.authorize().url, "demo", "demo"); err == nil {
		t.Error("Login accepted a client that follows redirects")
	}
}
