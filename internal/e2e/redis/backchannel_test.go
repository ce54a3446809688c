package redis_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
)

const bclEvent = "http://schemas.openid.net/event/backchannel-logout"

// TestSignOutAtTheOP is the demo's story: the user signs out at the
// identity provider's own page, the OP posts a logout token to bff, and
// the session is over on every replica.
func TestSignOutAtTheOP(t *testing.T) {
	s := withRedis(t, bfftest.RedisDB(t), bfftest.StackOptions{Replicas: 2})
	s.Login()
	copied := s.SessionCookies()
	for i := range s.Replicas {
		if r := s.OnReplica(i, copied, http.MethodGet, "/auth/session"); r.StatusCode != http.StatusOK {
			t.Fatalf("replica %d: %d", i, r.StatusCode)
		}
	}
	page := bfftest.Do(t, s.Client, http.MethodPost, s.OP.Issuer, s.OP.Issuer+"/signout", nil)
	if !strings.Contains(page.Text, "the application was told") {
		t.Fatalf("the OP's sign-out page says:\n%s", page.Text)
	}
	signedOut := time.Now()
	for i := range s.Replicas {
		took := untilRefused(t, s, i, copied, time.Second)
		t.Logf("replica %d refused the session %v after the OP's page answered (%v after the sign-out began)",
			i, took, time.Since(signedOut))
	}
	if !strings.Contains(s.Logs.String(), `"msg":"back-channel logout","replica"`) {
		t.Error("no replica logged the back-channel logout")
	}
}

// TestBackchannelLogoutTokens: what a logout token must be to end
// sessions, and that anything else ends nothing.
func TestBackchannelLogoutTokens(t *testing.T) {
	k := bfftest.NewSigningKey(t)
	s := withRedis(t, bfftest.RedisDB(t), bfftest.StackOptions{Replicas: 2, OP: bfftest.OPOptions{Wrap: k.Publish}})
	now := time.Now()
	// claims are a good logout token's for the session's sid and sub;
	// each case changes them.
	claims := func(sid, sub string) map[string]any {
		return map[string]any{
			"iss": s.OP.Issuer, "aud": s.OP.ClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
			"jti": rand.Text(), "events": map[string]any{bclEvent: map[string]any{}}, "sid": sid, "sub": sub,
		}
	}
	otherKey := bfftest.NewSigningKey(t)

	for _, tc := range []struct {
		name string
		make func(c map[string]any) string // the token, from good claims
		ends bool
	}{
		{"sid and sub", func(c map[string]any) string { return k.Sign(t, c) }, true},
		{"sid only", func(c map[string]any) string { delete(c, "sub"); return k.Sign(t, c) }, true},
		{"aud array", func(c map[string]any) string { c["aud"] = []string{"another", s.OP.ClientID}; return k.Sign(t, c) }, true},
		{"no exp", func(c map[string]any) string { delete(c, "exp"); return k.Sign(t, c) }, true},

		{"malformed", func(map[string]any) string { return "not.a.jwt" }, false},
		{"empty", func(map[string]any) string { return "" }, false},
		{"unsigned", func(c map[string]any) string { return unsigned(t, c) }, false},
		{"unknown key", func(c map[string]any) string { return otherKey.Sign(t, c) }, false},
		{"forged with a known kid", func(c map[string]any) string { return otherKey.SignAs(t, k.KID, c) }, false},
		{"tampered", func(c map[string]any) string { return tamper(t, k.Sign(t, c)) }, false},
		{"expired", func(c map[string]any) string { c["exp"] = now.Add(-time.Second).Unix(); return k.Sign(t, c) }, false},
		{"old iat", func(c map[string]any) string { c["iat"] = now.Add(-10 * time.Minute).Unix(); return k.Sign(t, c) }, false},
		{"future iat", func(c map[string]any) string { c["iat"] = now.Add(10 * time.Minute).Unix(); return k.Sign(t, c) }, false},
		{"no iat", func(c map[string]any) string { delete(c, "iat"); return k.Sign(t, c) }, false},
		{"nonce", func(c map[string]any) string { c["nonce"] = "n"; return k.Sign(t, c) }, false},
		{"no events", func(c map[string]any) string { delete(c, "events"); return k.Sign(t, c) }, false},
		{"other event", func(c map[string]any) string {
			c["events"] = map[string]any{"urn:other": map[string]any{}}
			return k.Sign(t, c)
		}, false},
		{"event not an object", func(c map[string]any) string { c["events"] = map[string]any{bclEvent: true}; return k.Sign(t, c) }, false},
		{"wrong aud", func(c map[string]any) string { c["aud"] = "another"; return k.Sign(t, c) }, false},
		{"wrong iss", func(c map[string]any) string { c["iss"] = "http://127.0.0.1:1/idp"; return k.Sign(t, c) }, false},
		{"no sid or sub", func(c map[string]any) string { delete(c, "sid"); delete(c, "sub"); return k.Sign(t, c) }, false},
		{"no jti", func(c map[string]any) string { delete(c, "jti"); return k.Sign(t, c) }, false},

		// Last: it ends every session of the subject that began before its
		// iat, which is a second ahead so as to include the one just made.
		{"sub only", func(c map[string]any) string {
			delete(c, "sid")
			c["iat"] = time.Now().Add(time.Second).Unix()
			return k.Sign(t, c)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newBrowser(t, s)
			s.Login()
			id := s.OP.IDTokenClaims(t)
			sid, _ := id["sid"].(string)
			sub, _ := id["sub"].(string)
			if sid == "" || sub == "" {
				t.Fatalf("the ID token has sid %q and sub %q", sid, sub)
			}
			token := tc.make(claims(sid, sub))
			r := postLogoutToken(t, s, url.Values{"logout_token": {token}})
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
			}
			if !tc.ends {
				if r.StatusCode != http.StatusBadRequest || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
					t.Fatalf("%d %q %s, want a 400 problem", r.StatusCode, r.Header.Get("Content-Type"), r.Text)
				}
				for i := range s.Replicas {
					if r := s.OnReplica(i, s.SessionCookies(), http.MethodGet, "/auth/session"); r.StatusCode != http.StatusOK {
						t.Errorf("replica %d: %d after a refused logout token, want the session alive", i, r.StatusCode)
					}
				}
				return
			}
			if r.StatusCode != http.StatusOK {
				t.Fatalf("%d %s, want 200", r.StatusCode, r.Text)
			}
			for i := range s.Replicas {
				untilRefused(t, s, i, s.SessionCookies(), time.Second)
			}
			// The same token again is a replay.
			if r := postLogoutToken(t, s, url.Values{"logout_token": {token}}); r.StatusCode != http.StatusBadRequest {
				t.Errorf("a replayed token: %d, want 400", r.StatusCode)
			}
		})
	}
}

// TestBackchannelLogoutRequests: the request itself must be one form
// field, and a replay of a good token ends nothing more.
func TestBackchannelLogoutRequests(t *testing.T) {
	s := withRedis(t, bfftest.RedisDB(t), bfftest.StackOptions{})
	for _, tc := range []struct {
		name, contentType, body string
	}{
		{"no field", "application/x-www-form-urlencoded", "x=1"},
		{"two tokens", "application/x-www-form-urlencoded", "logout_token=a&logout_token=b"},
		{"json", "application/json", `{"logout_token":"a"}`},
		{"huge", "application/x-www-form-urlencoded", "logout_token=" + strings.Repeat("a", 1<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bfftest.Do(t, s.Client, http.MethodPost, s.Front.URL, "/auth/backchannel-logout",
				strings.NewReader(tc.body), "Content-Type", tc.contentType)
			if r.StatusCode != http.StatusBadRequest {
				t.Errorf("%d %s, want 400", r.StatusCode, r.Text)
			}
		})
	}
	if r := s.Get("/auth/backchannel-logout"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", r.StatusCode)
	}
}

// TestNoBackchannelWithoutRedis: without a shared store no replica could
// end another's session, so the endpoint does not exist.
func TestNoBackchannelWithoutRedis(t *testing.T) {
	s := bfftest.NewStack(t, bfftest.StackOptions{})
	r := postLogoutToken(t, s, url.Values{"logout_token": {"x"}})
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("without Redis: %d, want 404", r.StatusCode)
	}
}

// postLogoutToken posts as an IdP does: server to server, no cookie, no
// Origin.
func postLogoutToken(t *testing.T, s *bfftest.Stack, form url.Values) bfftest.Response {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	defer c.CloseIdleConnections()
	return bfftest.Do(t, c, http.MethodPost, s.Front.URL, "/auth/backchannel-logout",
		strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

// unsigned is claims as a JWT with "alg": "none".
func unsigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"logout+jwt"}`)) + "." + enc(payload) + "."
}

// tamper changes a signed token's sid after signing.
func tamper(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	payload = bytes.Replace(payload, []byte(`"sid":"`), []byte(`"sid":"x`), 1)
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}
