package oidc_test

import (
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// FuzzBackchannelLogout: whatever is posted, the endpoint ends nothing
// unless the IdP signed it, and the fuzzer cannot sign. It answers 400, or
// 503 with Retry-After when the token names a key bff does not hold and
// the keys were fetched too recently to fetch again.
//
// The seeds are issued now, for the IdP's client, so that what refuses
// them is the signature (or its algorithm), not their age or audience.
func FuzzBackchannelLogout(f *testing.F) {
	public, _ := url.Parse("https://app.example")
	key := bfftest.NewSigningKey(f)
	op := bfftest.StartOP(f, public, bfftest.OPOptions{Wrap: key.Publish})
	shared := newMemShared()
	cfg := bfftest.AuthConfig(f, op, public, bfftest.NewKey(f), nil, nil)
	cfg.Shared = shared
	auth := discovered(f, cfg)

	// Each token its own jti, so that none is refused as a replay.
	claims := func() map[string]any { return logoutClaims(op, "s", "", time.Now()) }
	payload := func() string {
		b, err := json.Marshal(claims())
		if err != nil {
			f.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	valid := key.Sign(f, claims())
	// The one good token ends what it names: the rig can tell.
	if rec := postLogout(auth, "logout_token="+valid); rec.Code != http.StatusOK {
		f.Fatalf("a good logout token: %d %s", rec.Code, rec.Body)
	}
	before := shared.withPrefix("")
	if len(before) == 0 {
		f.Fatal("a good logout token ended nothing")
	}

	flipped := []byte(key.Sign(f, claims()))
	flipped[len(flipped)-10] ^= 'A' ^ 'B' // in the signature
	other := bfftest.NewSigningKey(f)
	for _, token := range []string{
		valid, // again: a replay
		string(flipped),
		other.SignAs(f, key.KID, claims()), // forged under a published kid
		other.Sign(f, claims()),            // a kid never published
		b64(`{"alg":"none","typ":"logout+jwt"}`) + "." + payload() + ".",
		b64(`{"alg":"HS256","kid":"`+key.KID+`"}`) + "." + payload() + ".c2ln",
		b64(`{"alg":"RS256"}`) + "." + payload() + ".c2ln",
		"a.b.c", "", strings.Repeat(".", 100),
	} {
		f.Add("logout_token=" + token)
	}
	for _, body := range []string{"logout_token=a&logout_token=b", "", "%zz"} {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		rec := postLogout(auth, body)
		if rec.Code != http.StatusBadRequest && (rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "") {
			t.Fatalf("%q: %d, want 400, or 503 with Retry-After", body, rec.Code)
		}
		if after := shared.withPrefix(""); !maps.Equal(after, before) {
			t.Fatalf("%q ended something", body)
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
