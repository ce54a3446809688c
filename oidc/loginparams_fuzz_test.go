package oidc

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
)

// FuzzLoginParams: whatever query reaches /auth/login, the parameters
// passed to the IdP are only the pass-through ones, each exactly as the
// browser sent it, once, without control characters and within its
// bound; anything else is refused.
func FuzzLoginParams(f *testing.F) {
	for _, seed := range []string{
		"prompt=none",
		"prompt=login+consent&login_hint=a%40example.com&ui_locales=de-CH+en&acr_values=urn%3Amace%3Aincommon%3Aiap%3Asilver&max_age=300",
		"prompt=none+login",
		"prompt=login&prompt=consent",
		"login_hint=a%0d%0aSet-Cookie:x",
		"ui_locales=123",
		"acr_values=a++b",
		"max_age=-1&max_age=01",
		"returnTo=/x&state=s&nonce=n&redirect_uri=https://evil&client_id=x",
		"login_hint=%c2%85",
	} {
		f.Add(seed)
	}
	names := map[string]bool{}
	for _, p := range passThrough() {
		names[p.name] = true
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // net/http would not hand bff this query either
		}
		out, err := loginParams(q)
		if err != nil {
			if out != nil {
				t.Fatalf("%q: refused (%v) yet returned %v", raw, err, out)
			}
			return
		}
		for name, values := range out {
			if !names[name] {
				t.Fatalf("%q: passed %q to the IdP, which is not a pass-through parameter", raw, name)
			}
			if len(values) != 1 || len(q[name]) != 1 || values[0] != q[name][0] {
				t.Fatalf("%q: %s passed as %q, sent as %q", raw, name, values, q[name])
			}
			v := values[0]
			if v == "" || len(v) > 512 || strings.IndexFunc(v, unicode.IsControl) >= 0 {
				t.Fatalf("%q: %s value %q passed", raw, name, v)
			}
		}
		for name := range names {
			if _, sent := q[name]; sent && out.Get(name) == "" {
				t.Fatalf("%q: %s accepted but not passed on", raw, name)
			}
		}
	})
}
