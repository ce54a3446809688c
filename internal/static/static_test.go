package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func gz(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.String()
}

func spa(t *testing.T) fstest.MapFS {
	return fstest.MapFS{
		"index.html":            {Data: []byte("<!doctype html><title>app</title>")},
		"assets/app-1a2b.js":    {Data: []byte("console.log(1)")},
		"assets/app-1a2b.js.br": {Data: []byte("BROTLI")},
		"assets/app-1a2b.js.gz": {Data: []byte(gz(t, "console.log(1)"))},
		"assets/style.css.gz":   {Data: []byte(gz(t, "body{}"))},
		"assets/style.css":      {Data: []byte("body{}")},
		"docs/index.html":       {Data: []byte("<p>docs</p>")},
		"empty/.keep":           {Data: []byte("")},
		"robots.txt":            {Data: []byte("User-agent: *")},
	}
}

func TestStatic(t *testing.T) {
	navigate := http.Header{"Sec-Fetch-Mode": {"navigate"}, "Accept": {"text/html"}}
	fetch := http.Header{"Sec-Fetch-Mode": {"cors"}, "Accept": {"*/*"}}
	oldBrowser := http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}}
	for _, tc := range []struct {
		name      string
		fallback  bool
		method    string
		path      string
		header    http.Header
		status    int
		body      string // "" when not checked
		ctype     string
		cache     string
		encoding  string
		vary      string
		noListing bool
	}{
		{"index", true, "GET", "/", navigate, 200, "<!doctype html><title>app</title>", "text/html; charset=utf-8", "no-cache", "", "", false},
		{"asset plain", true, "GET", "/assets/style.css", fetch, 200, "body{}", "text/css; charset=utf-8", "", "", "Accept-Encoding", false},
		{"asset gzip", true, "GET", "/assets/style.css", http.Header{"Accept-Encoding": {"gzip, deflate"}}, 200, "", "text/css; charset=utf-8", "", "gzip", "Accept-Encoding", false},
		{"asset br preferred", true, "GET", "/assets/app-1a2b.js", http.Header{"Accept-Encoding": {"gzip, deflate, br, zstd"}}, 200, "BROTLI", "text/javascript; charset=utf-8", "", "br", "Accept-Encoding", false},
		{"br refused by weight", true, "GET", "/assets/app-1a2b.js", http.Header{"Accept-Encoding": {"br;q=0, gzip"}}, 200, "", "text/javascript; charset=utf-8", "", "gzip", "Accept-Encoding", false},
		{"no sibling, no vary", true, "GET", "/robots.txt", http.Header{"Accept-Encoding": {"br, gzip"}}, 200, "User-agent: *", "text/plain; charset=utf-8", "", "", "", false},
		{"client route", true, "GET", "/orders/42", navigate, 200, "<!doctype html><title>app</title>", "text/html; charset=utf-8", "no-cache", "", "", false},
		{"client route, old browser", true, "GET", "/orders/42", oldBrowser, 200, "<!doctype html><title>app</title>", "text/html; charset=utf-8", "no-cache", "", "", false},
		{"client route, fallback off", false, "GET", "/orders/42", navigate, 404, "", "application/problem+json", "", "", "", false},
		{"a fetch is no navigation", true, "GET", "/orders/42", fetch, 404, "", "application/problem+json", "", "", "", false},
		{"missing file with a dot", true, "GET", "/assets/missing.js", navigate, 404, "", "application/problem+json", "", "", "", false},
		{"directory with index", true, "GET", "/docs/", navigate, 200, "<p>docs</p>", "text/html; charset=utf-8", "no-cache", "", "", false},
		{"directory without index, no listing", true, "GET", "/empty/", fetch, 404, "", "application/problem+json", "", "", "", true},
		{"directory without index, navigation", true, "GET", "/empty/", navigate, 200, "<!doctype html><title>app</title>", "text/html; charset=utf-8", "no-cache", "", "", true},
		{"POST", true, "POST", "/", navigate, 405, "", "application/problem+json", "", "", "", false},
		{"HEAD", true, "HEAD", "/robots.txt", fetch, 200, "", "text/plain; charset=utf-8", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Handler(spa(t), Options{Fallback: tc.fallback, CSP: "default-src 'self'"})
			r := httptest.NewRequest(tc.method, tc.path, nil)
			r.Header = tc.header.Clone()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.body != "" && rec.Body.String() != tc.body {
				t.Errorf("body %q, want %q", rec.Body.String(), tc.body)
			}
			hdr := rec.Header()
			for name, want := range map[string]string{"Content-Type": tc.ctype, "Cache-Control": tc.cache, "Content-Encoding": tc.encoding, "Vary": tc.vary} {
				if name == "Cache-Control" && rec.Code >= 400 {
					continue // problem+json says no-store
				}
				if got := hdr.Get(name); got != want {
					t.Errorf("%s %q, want %q", name, got, want)
				}
			}
			if rec.Code < 400 && hdr.Get("Content-Security-Policy") != "default-src 'self'" {
				t.Errorf("CSP %q, want the configured one", hdr.Get("Content-Security-Policy"))
			}
			if tc.noListing && bytes.Contains(rec.Body.Bytes(), []byte(".keep")) {
				t.Error("a directory was listed")
			}
			if tc.encoding == "gzip" {
				zr, err := gzip.NewReader(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadAll(zr); err != nil {
					t.Errorf("the gzip body does not decode: %v", err)
				}
			}
		})
	}
}

// TestNothingAboveRoot: a path that climbs out of the site's directory is
// not found, whether the file system refuses such names itself (os.DirFS)
// or, like a plain join onto a directory, would open them.
func TestNothingAboveRoot(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	if err := os.MkdirAll(filepath.Join(site, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{filepath.Join(dir, "secret.txt"): "SECRET", filepath.Join(site, "index.html"): "<p>app</p>"} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for fsName, fsys := range map[string]fs.FS{"os.DirFS": os.DirFS(site), "a plain join": joinFS(site)} {
		h := Handler(fsys, Options{Fallback: true})
		for _, target := range []string{"/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt", "/..%2fsecret.txt"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
			if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(rec.Body.String(), "SECRET") {
				t.Errorf("%s %s: status %d, %q, body %.40q; want 404 problem+json", fsName, target, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
			}
		}
	}
}

// joinFS opens any name joined onto a directory, ".." included: a file
// system that leaves the checking to its caller.
type joinFS string

func (d joinFS) Open(name string) (fs.File, error) { return os.Open(filepath.Join(string(d), name)) }

func TestIsNavigation(t *testing.T) {
	for _, tc := range []struct {
		method string
		header http.Header
		want   bool
	}{
		{"GET", http.Header{"Sec-Fetch-Mode": {"navigate"}}, true},
		{"HEAD", http.Header{"Sec-Fetch-Mode": {"navigate"}}, true},
		{"POST", http.Header{"Sec-Fetch-Mode": {"navigate"}}, false},
		{"GET", http.Header{"Sec-Fetch-Mode": {"cors"}, "Accept": {"text/html"}}, false},
		{"GET", http.Header{"Sec-Fetch-Mode": {"no-cors"}}, false},
		{"GET", http.Header{"Accept": {"text/html,application/xhtml+xml"}}, true},
		{"GET", http.Header{"Accept": {"application/json, TEXT/HTML;q=0.1"}}, true},
		{"GET", http.Header{"Accept": {"application/json"}}, false},
		{"GET", http.Header{"Accept": {"*/*"}}, false},
		{"GET", http.Header{}, false},
	} {
		r := httptest.NewRequest(tc.method, "/x", nil)
		r.Header = tc.header
		if got := IsNavigation(r); got != tc.want {
			t.Errorf("%s %v: IsNavigation = %v, want %v", tc.method, tc.header, got, tc.want)
		}
	}
}
