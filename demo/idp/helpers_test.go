package idp_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"bff/demo/idp"
	"bff/demo/idp/idptest"
)

const (
	testClientID     = "bff"
	testClientSecret = "s3cret"
)

// discovery is the part of the discovery document the tests look at.
type discovery struct {
	Issuer                   string   `json:"issuer"`
	AuthorizationEndpoint    string   `json:"authorization_endpoint"`
	TokenEndpoint            string   `json:"token_endpoint"`
	UserinfoEndpoint         string   `json:"userinfo_endpoint"`
	RevocationEndpoint       string   `json:"revocation_endpoint"`
	EndSessionEndpoint       string   `json:"end_session_endpoint"`
	JWKSURI                  string   `json:"jwks_uri"`
	CodeChallengeMethods     []string `json:"code_challenge_methods_supported"`
	ScopesSupported          []string `json:"scopes_supported"`
	GrantTypesSupported      []string `json:"grant_types_supported"`
	BackchannelLogout        bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSession bool     `json:"backchannel_logout_session_supported"`
}

// testOP is a Provider served the way bff serves it: under /idp, with the
// prefix stripped.
type testOP struct {
	p           *idp.Provider
	rec         *idptest.Recorder // counts what p served
	issuer      string
	redirectURI string
	postLogout  string
	disc        discovery
	conf        oauth2.Config
	http        *http.Client // follows no redirects, as Login requires
	ctx         context.Context
}

func newTestOP(t *testing.T, mutate func(*idp.Config)) *testOP {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	cfg := idp.Config{
		Issuer:                 base + "/idp",
		ClientID:               testClientID,
		ClientSecret:           testClientSecret,
		RedirectURIs:           []string{base + "/auth/callback"},
		PostLogoutRedirectURIs: []string{base + "/bye"},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := idp.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	rec := idptest.Record(p, cfg.ClientID, cfg.ClientSecret)
	mux.Handle("/idp/", http.StripPrefix("/idp", rec))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	hc := srv.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)

	o := &testOP{
		p:           p,
		rec:         rec,
		issuer:      cfg.Issuer,
		redirectURI: cfg.RedirectURIs[0],
		postLogout:  cfg.PostLogoutRedirectURIs[0],
		http:        hc,
		ctx:         ctx,
	}
	o.getJSON(t, cfg.Issuer+"/.well-known/openid-configuration", &o.disc)
	o.conf = oauth2.Config{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   o.disc.AuthorizationEndpoint,
			TokenURL:  o.disc.TokenEndpoint,
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		RedirectURL: o.redirectURI,
		Scopes:      []string{"openid", "profile", "email", "offline_access"},
	}
	return o
}

func (o *testOP) getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp := o.do(t, http.MethodGet, u, nil, nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", u, err)
	}
}

// do sends one request without following redirects. A form body is posted
// form-encoded.
func (o *testOP) do(t *testing.T, method, u string, form url.Values, header http.Header) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(o.ctx, method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := o.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// authorize starts a code + PKCE flow and returns the authorize URL with the
// verifier, state and nonce it used.
type authStart struct {
	url, verifier, state, nonce string
}

func (o *testOP) authorize(opts ...oauth2.AuthCodeOption) authStart {
	a := authStart{verifier: oauth2.GenerateVerifier(), state: rand.Text(), nonce: rand.Text()}
	opts = append([]oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(a.verifier),
		oauth2.SetAuthURLParam("nonce", a.nonce),
	}, opts...)
	a.url = o.conf.AuthCodeURL(a.state, opts...)
	return a
}

// code logs the demo user in and returns the authorization code, checking
// that the OP sent the browser to the registered redirect URI with the state.
func (o *testOP) code(t *testing.T, a authStart) string {
	t.Helper()
	cb, err := idptest.Login(o.ctx, o.http, a.url, "demo", "demo")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	u.RawQuery = ""
	if u.String() != o.redirectURI {
		t.Fatalf("callback went to %s, want %s", u, o.redirectURI)
	}
	if q.Get("state") != a.state {
		t.Fatalf("callback state %q, want %q", q.Get("state"), a.state)
	}
	if q.Get("code") == "" {
		t.Fatal("callback has no code")
	}
	return q.Get("code")
}

// login runs the whole flow and returns the tokens.
func (o *testOP) login(t *testing.T) (*oauth2.Token, authStart) {
	t.Helper()
	a := o.authorize()
	tok, err := o.conf.Exchange(o.ctx, o.code(t, a), oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok, a
}

func (o *testOP) refresh(refreshToken string) (*oauth2.Token, error) {
	return o.conf.TokenSource(o.ctx, &oauth2.Token{RefreshToken: refreshToken}).Token()
}

// wantInvalidGrant fails unless err is the token endpoint answering 400
// invalid_grant.
func wantInvalidGrant(t *testing.T, err error) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want a token endpoint error", err)
	}
	if re.Response.StatusCode != http.StatusBadRequest || re.ErrorCode != "invalid_grant" {
		t.Fatalf("got HTTP %d %q, want 400 invalid_grant", re.Response.StatusCode, re.ErrorCode)
	}
}

// verifyJWT checks token's RS256 signature against the OP's JWKS and returns
// its claims.
func (o *testOP) verifyJWT(t *testing.T, token string) map[string]any {
	t.Helper()
	var keys jose.JSONWebKeySet
	o.getJSON(t, o.disc.JWKSURI, &keys)
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse JWT: %v", err)
	}
	found := keys.Key(jws.Signatures[0].Header.KeyID)
	if len(found) != 1 {
		t.Fatalf("JWKS has %d keys with kid %q", len(found), jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(found[0])
	if err != nil {
		t.Fatalf("verify JWT: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// audience returns the "aud" claim as a list, whichever form it has.
func audience(claims map[string]any) []string {
	switch v := claims["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, a := range v {
			s, _ := a.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// lifetime is exp - iat of claims.
func lifetime(t *testing.T, claims map[string]any) time.Duration {
	t.Helper()
	exp, ok1 := claims["exp"].(float64)
	iat, ok2 := claims["iat"].(float64)
	if !ok1 || !ok2 {
		t.Fatalf("exp/iat missing from %v", claims)
	}
	return time.Duration(exp-iat) * time.Second
}

func near(got, want, tolerance time.Duration) bool {
	d := got - want
	return d <= tolerance && d >= -tolerance
}

func wantClaims(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s claim %s = %v, want %v", what, k, got[k], v)
		}
	}
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func asRetrieveError(err error, re **oauth2.RetrieveError) bool { return errors.As(err, re) }
