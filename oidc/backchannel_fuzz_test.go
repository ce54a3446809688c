package oidc_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"bff/internal/bfftest"
	"bff/oidc"
)

// memShared is an oidc.Shared in a map, for a fuzz target that calls the
// handler directly. The Redis suites use a real Redis.
type memShared struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *memShared) GetCached(_ context.Context, keys ...string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = s.m[k]
	}
	return out, nil
}

func (s *memShared) Set(_ context.Context, key, value string, _ time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = value
	return nil
}

func (s *memShared) SetNX(_ context.Context, key, value string, _ time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[key]; ok {
		return false, nil
	}
	s.m[key] = value
	return true, nil
}

func (s *memShared) Delete(_ context.Context, keys ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		delete(s.m, k)
	}
	return nil
}

// FuzzBackchannelLogout: whatever is posted, the endpoint answers 400
// and ends nothing, unless the IdP signed it; the fuzzer cannot sign.
func FuzzBackchannelLogout(f *testing.F) {
	public, _ := url.Parse("https://app.example")
	op := bfftest.StartOP(f, public, bfftest.OPOptions{})
	shared := &memShared{m: map[string]string{}}
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

var _ oidc.Shared = (*memShared)(nil)
