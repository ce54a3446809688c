package policy_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"bff/internal/bfftest"
	"bff/internal/policy"
)

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
	base, err := url.Parse("https://app.example/")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !policy.IsLocalPath(s) {
			return
		}
		// A redirect goes out through http.Redirect, which cleans the
		// path: the browser reads that, not s itself.
		rec := httptest.NewRecorder()
		http.Redirect(rec, httptest.NewRequest(http.MethodGet, "/auth/callback", nil), s, http.StatusFound)
		loc := rec.Header().Get("Location")
		for _, v := range []string{s, loc} {
			if host := bfftest.ResolvedHost(base, v); host != base.Host && host != "" {
				t.Fatalf("IsLocalPath(%q) = true, but Go resolves %q to host %q", s, v, host)
			}
			if host := bfftest.BrowserHost(base, v); host != base.Host {
				t.Fatalf("IsLocalPath(%q) = true, but a browser resolves %q to host %q", s, v, host)
			}
		}
	})
}

// TestIsLocalPath pins the paths an operator and a browser use.
func TestIsLocalPath(t *testing.T) {
	for _, good := range []string{"/", "/app", "/a/b?c=d#e", "/user@host", "/café", "/%0a"} {
		if !policy.IsLocalPath(good) {
			t.Errorf("IsLocalPath(%q) = false", good)
		}
	}
	for _, bad := range []string{"", "app", "//evil.com", "/\\evil.com", "/\tx", "/\nx", "/x\x7f", "/\xff", "https://app.example/", "/" + strings.Repeat("a", 2048)} {
		if policy.IsLocalPath(bad) {
			t.Errorf("IsLocalPath(%q) = true", bad)
		}
	}
}
