package oidc_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"bff/internal/bfftest"
)

// FuzzBackchannelLogout: whatever is posted, the endpoint answers 400
// and ends nothing, unless the IdP signed it; the fuzzer cannot sign.
func FuzzBackchannelLogout(f *testing.F) {
	public, _ := url.Parse("https://app.example")
	op := bfftest.StartOP(f, public, bfftest.OPOptions{})
	shared := newMemShared()
	cfg := bfftest.AuthConfig(f, op, public, bfftest.NewKey(f), nil, nil)
	cfg.Shared = shared
	auth := discovered(f, cfg)

	header := `{"alg":"RS256","kid":"k","typ":"logout+jwt"}`
	claims := `{"iss":"` + op.Issuer + `","aud":"bff","iat":1,"jti":"j","sid":"s","events":{"http://schemas.openid.net/event/backchannel-logout":{}}}`
	for _, seed := range []string{
		"logout_token=" + b64(header) + "." + b64(claims) + ".c2ln",
		"logout_token=" + b64(`{"alg":"none"}`) + "." + b64(claims) + ".",
		"logout_token=a.b.c", "logout_token=", "logout_token=a&logout_token=b", "", "%zz", "logout_token=" + strings.Repeat(".", 100),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/auth/backchannel-logout", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		auth.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("%q: %d, want 400", body, rec.Code)
		}
		shared.mu.Lock()
		defer shared.mu.Unlock()
		if len(shared.m) != 0 {
			t.Fatalf("%q ended something: %v", body, shared.m)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
