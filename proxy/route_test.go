package proxy

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestParseRoutes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // "prefix upstream"
	}{
		{"empty", "", nil},
		{"blank", "   ", nil},
		{"one", "/api/=http://orders:9000/v1", []string{"/api/ http://orders:9000/v1"}},
		{"two with spaces", " /api/=http://orders:9000/v1 , /billing/=https://billing.internal ",
			[]string{"/api/ http://orders:9000/v1", "/billing/ https://billing.internal"}},
		{"slash added", "/api=http://a", []string{"/api/ http://a"}},
		{"nested prefixes", "/api/=http://a,/api/v2/=http://b/",
			[]string{"/api/ http://a", "/api/v2/ http://b/"}},
		{"scheme case", "/api/=HTTPS://a:8443/x", []string{"/api/ https://a:8443/x"}},
		{"allowed punctuation", "/a-b_c~d.e/=http://a", []string{"/a-b_c~d.e/ http://a"}},
		{"healthz below", "/healthz/x/=http://a", []string{"/healthz/x/ http://a"}},
		{"authx is not auth", "/authx/=http://a", []string{"/authx/ http://a"}},
		{"ipv6 upstream", "/api/=http://[::1]:9000", []string{"/api/ http://[::1]:9000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRoutes(tt.in)
			if err != nil {
				t.Fatalf("ParseRoutes(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("ParseRoutes(%q) = %d routes, want %d", tt.in, len(got), len(tt.want))
			}
			for i, rt := range got {
				if s := rt.Prefix + " " + rt.Upstream.String(); s != tt.want[i] {
					t.Errorf("route %d = %q, want %q", i, s, tt.want[i])
				}
			}
		})
	}
}

func TestParseRoutesErrors(t *testing.T) {
	const ok = "/ok/=http://a"
	tests := []struct {
		name    string
		entry   string // placed second, after a good entry
		wantMsg string
	}{
		{"empty entry", "", "empty entry"},
		{"no equals", "/api/http://a", "missing '='"},
		{"relative prefix", "api/=http://a", "start with '/'"},
		{"empty prefix", "=http://a", "start with '/'"},
		{"dot dot", "/a/../b/=http://a", `".."`},
		{"dot dot inside name", "/a..b/=http://a", `".."`},
		{"double slash", "/a//b/=http://a", `"//"`},
		{"question mark", "/a?b/=http://a", `"?"`},
		{"hash", "/a#b/=http://a", `"#"`},
		{"percent", "/a%2Fb/=http://a", `"%"`},
		{"inner space", "/a b/=http://a", "whitespace"},
		{"tab", "/a\tb/=http://a", "whitespace"},
		{"control", "/a\x01b/=http://a", "control"},
		{"nbsp", "/a\u00a0b/=http://a", "whitespace"},
		{"invalid utf8", "/a\xffb/=http://a", "UTF-8"},
		{"needs escaping", "/a{b}/=http://a", "percent-encoding"},
		{"non-ascii", "/ä/=http://a", "percent-encoding"},
		{"dot segment", "/a/./=http://a", `"." segment`},
		{"trailing dot", "/a/.=http://a", `"." segment`},
		{"root", "/=http://a", "single-page app"},
		{"auth", "/auth/=http://a", "/auth/"},
		{"auth bare", "/auth=http://a", "/auth/"},
		{"under auth", "/auth/x/=http://a", "/auth/"},
		{"healthz", "/healthz=http://a", "/healthz"},
		{"readyz", "/readyz/=http://a", "/readyz"},
		{"duplicate", "/ok=http://b", "duplicate prefix"},
		{"relative upstream", "/api/=orders:9000/v1", "absolute http"},
		{"no scheme", "/api/=//orders/v1", "absolute http"},
		{"ftp", "/api/=ftp://a", "absolute http"},
		{"no host", "/api/=http:///v1", "absolute http"},
		{"port only", "/api/=http://:9000", "absolute http"},
		{"empty upstream", "/api/=", "absolute http"},
		{"query", "/api/=http://a/?x=1", "query"},
		{"empty query", "/api/=http://a?", "query"},
		{"fragment", "/api/=http://a/#x", "fragment"},
		{"empty fragment", "/api/=http://a#", "fragment"},
		{"userinfo", "/api/=http://user:pw@a", "userinfo"},
		{"user only", "/api/=http://user@a", "userinfo"},
		{"bad port", "/api/=http://a:port", "upstream: invalid port"},
		{"space in host", "/api/=http://a b", "upstream:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok + "," + tt.entry
			routes, err := ParseRoutes(in)
			if err == nil {
				t.Fatalf("ParseRoutes(%q) = %v, want error", in, routes)
			}
			if routes != nil {
				t.Errorf("ParseRoutes(%q) returned routes with an error", in)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "entry 2 ") {
				t.Errorf("error %q does not name entry 2", msg)
			}
			if !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("error %q does not contain %q", msg, tt.wantMsg)
			}
			if !strings.Contains(tt.entry, "@") && !strings.Contains(msg, fmt.Sprintf("entry 2 %q: ", tt.entry)) {
				t.Errorf("error %q does not quote the entry %q", msg, tt.entry)
			}
			if strings.Count(msg, "\n") != 0 {
				t.Errorf("one bad entry gave several errors: %q", msg)
			}
		})
	}
}

func TestParseRoutesAllErrors(t *testing.T) {
	_, err := ParseRoutes("nope, /api/=http://a ,/x/=ftp://b,/api=http://c")
	if err == nil {
		t.Fatal("want error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{`entry 1 "nope"`, `entry 3 "/x/=ftp://b"`, `entry 4 "/api=http://c": duplicate prefix`}
	if len(lines) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %d = %q, want prefix %q", i+1, lines[i], w)
		}
	}
}

func TestParseRoutesHidesCredentials(t *testing.T) {
	for _, in := range []string{
		"/api/=http://alice:s3cret@orders",
		"/api/=http://s3cret@orders",
		"/api/=http://alice:s3cret@orders:bad",
		"/api/=http://alice:s3cret@orders/?q",
	} {
		_, err := ParseRoutes(in)
		if err == nil {
			t.Fatalf("ParseRoutes(%q): want error", in)
		}
		if msg := err.Error(); strings.Contains(msg, "s3cret") || !strings.HasPrefix(msg, "entry 1 ") {
			t.Errorf("ParseRoutes(%q) error = %q, want entry 1 without the secret", in, msg)
		}
	}
}

func FuzzParseRoutes(f *testing.F) {
	for _, s := range []string{
		"", "/api/=http://orders:9000/v1,/billing/=https://billing.internal",
		"/api=http://a", "/a/../b=http://a", "/x/=https://u:p@h?q#f", " , ,",
		"/api/=http://[::1]:80/a%2Fb", "/auth=http://a", "/%2e/=http://a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		routes, err := ParseRoutes(s)
		if err != nil {
			if routes != nil {
				t.Fatalf("routes and error together for %q", s)
			}
			return
		}
		seen := map[string]bool{}
		for _, rt := range routes {
			p := rt.Prefix
			if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || p == "/" {
				t.Fatalf("bad prefix %q from %q", p, s)
			}
			if strings.Contains(p, "..") || strings.Contains(p, "//") || strings.HasPrefix(p, "/auth/") {
				t.Fatalf("unsafe prefix %q from %q", p, s)
			}
			if seen[p] {
				t.Fatalf("duplicate prefix %q from %q", p, s)
			}
			seen[p] = true
			u := rt.Upstream
			if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !u.IsAbs() {
				t.Fatalf("bad upstream %v from %q", u, s)
			}
			if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				t.Fatalf("upstream %v has userinfo, query or fragment, from %q", u, s)
			}
			// Whatever ParseRoutes accepts, New must accept too.
			if _, err := newRoute(rt); err != nil {
				t.Fatalf("newRoute(%+v): %v", rt, err)
			}
			if _, err := url.Parse(u.String()); err != nil {
				t.Fatalf("upstream %v does not round-trip: %v", u, err)
			}
		}
	})
}
