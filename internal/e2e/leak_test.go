package e2e

import (
	"bff/internal/bfftest"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestNoTokenReachesBrowserOrLog runs a whole session — login, session
// info, API calls, a refresh, logout — and scans every response bff sent
// and every log line it wrote for any token the OP issued, the client
// secret and the cookie key.
func TestNoTokenReachesBrowserOrLog(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{})
	var seen []bfftest.Response
	seen = append(seen, s.Login()...)
	seen = append(seen, s.Get("/auth/session", "X-CSRF", "1"))
	seen = append(seen, s.API("/api/a"))
	s.Clock.Advance(2 * time.Minute)
	seen = append(seen, s.API("/api/b")) // refreshes
	seen = append(seen, s.Get("/auth/token", "X-CSRF", "1"))
	seen = append(seen, s.Get("/api/c")) // 403
	session := s.Get("/auth/session", "X-CSRF", "1")
	seen = append(seen, session)
	logoutPath := bfftest.LogoutURL(t, session)
	logout := s.Get(logoutPath)
	if logout.StatusCode != http.StatusFound {
		t.Fatalf("logout: %d", logout.StatusCode)
	}
	seen = append(seen, s.API("/api/d")) // 401 after logout

	if c := s.OP.Counts(); c.RefreshGrants == 0 || c.Revocations == 0 {
		t.Fatalf("the flow did not exercise refresh and revocation: %+v", c)
	}
	tokens := s.OP.IssuedTokens()
	if len(tokens) < 5 {
		t.Fatalf("OP issued only %d tokens; the scan would prove little", len(tokens))
	}
	secrets := append([]string{}, tokens...)
	secrets = append(secrets, s.Secrets()...)

	for i, r := range seen {
		dump := dumpResponse(r)
		for _, tok := range secrets {
			if strings.Contains(dump, tok) {
				t.Errorf("response %d (%s %s) contains a secret %.12q...", i, r.Request.Method, r.Request.URL.Path, tok)
			}
		}
	}
	// The one place a token may appear: the ID token as id_token_hint in the
	// logout redirect to the OP's end_session endpoint, which RP-initiated
	// logout requires. Nowhere else in that response.
	loc, _ := url.Parse(logout.Header.Get("Location"))
	hint := loc.Query().Get("id_token_hint")
	if !strings.HasPrefix(loc.String(), s.OP.Issuer) || hint == "" {
		t.Fatalf("logout redirect %q", loc.Redacted())
	}
	rest := dumpResponse(bfftest.Response{Response: logout.Response, Text: logout.Text})
	rest = strings.Replace(rest, url.QueryEscape(hint), "", 1)
	rest = strings.Replace(rest, hint, "", 1)
	for _, tok := range secrets {
		if strings.Contains(rest, tok) {
			t.Errorf("logout response carries a secret outside id_token_hint: %.12q...", tok)
		}
	}

	logs := s.Logs.String()
	if !strings.Contains(logs, "login completed") {
		t.Fatal("debug logs were not captured; the log scan would prove nothing")
	}
	for _, tok := range secrets {
		if strings.Contains(logs, tok) {
			t.Errorf("a log line contains a secret %.12q...", tok)
		}
	}
}

// dumpResponse is what the browser received in r; see [bfftest.Response.Dump].
func dumpResponse(r bfftest.Response) string { return r.Dump() }
