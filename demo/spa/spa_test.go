package spa

import (
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(FS(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFSHoldsTheApp(t *testing.T) {
	entries, err := fs.ReadDir(FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"app.js", "index.html", "style.css"}; !slices.Equal(names, want) {
		t.Errorf("FS root = %v, want %v", names, want)
	}
}

// TestSmall keeps the demo readable in one sitting.
func TestSmall(t *testing.T) {
	tests := []struct {
		name     string
		maxLines int
	}{
		{"index.html", 100},
		{"app.js", 220},
		{"style.css", 150},
	}
	for _, tt := range tests {
		if n := strings.Count(read(t, tt.name), "\n"); n >= tt.maxLines {
			t.Errorf("%s has %d lines, want fewer than %d", tt.name, n, tt.maxLines)
		}
	}
}

func TestIndexWiring(t *testing.T) {
	html := read(t, "index.html")
	for _, want := range []string{
		"<title>bff demo</title>",
		`<script src="/app.js" defer></script>`,
		`<link rel="stylesheet" href="/style.css">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	// Every element app.js reaches for must exist exactly once.
	js := read(t, "app.js")
	ids := regexp.MustCompile(`\$\('([a-z-]+)'\)`).FindAllStringSubmatch(js, -1)
	ids = append(ids, regexp.MustCompile(`'(loading|signed-out|signed-in)'`).FindAllStringSubmatch(js, -1)...)
	if len(ids) < 10 {
		t.Fatalf("found only %d element lookups in app.js; has the helper changed?", len(ids))
	}
	required := []string{"login", "logout", "call-api", "profile", "name", "email", "sub", "claims", "api-result"}
	for _, m := range ids {
		required = append(required, m[1])
	}
	for _, id := range required {
		if n := strings.Count(html, `id="`+id+`"`); n != 1 {
			t.Errorf("index.html has %d elements with id %q, want 1", n, id)
		}
	}
}

// TestCSPSafe looks for what the strict CSP would block, or what would undo
// the reason for rendering with textContent.
func TestCSPSafe(t *testing.T) {
	tests := []struct {
		file, pattern, why string
	}{
		{"index.html", `<script(\s[^>]*)?>\s*[^<\s]`, "inline script"},
		{"index.html", `<style`, "inline style element"},
		{"index.html", `\sstyle\s*=`, "inline style attribute"},
		{"index.html", `\son[a-z]+\s*=`, "inline event handler"},
		{"index.html", `javascript:`, "javascript: URL"},
		{"app.js", `innerHTML|outerHTML|insertAdjacentHTML|document\.write`, "HTML parsing of data"},
		{"app.js", `\beval\s*\(|new\s+Function|set(Timeout|Interval)\s*\(\s*['"\x60]`, "string evaluated as code"},
		{"app.js", `setAttribute\(\s*'style'`, "inline style attribute"},
		{"style.css", `@import|url\(`, "stylesheet loading more resources"},
	}
	for _, tt := range tests {
		if loc := regexp.MustCompile(tt.pattern).FindStringIndex(read(t, tt.file)); loc != nil {
			t.Errorf("%s: %s at offset %d", tt.file, tt.why, loc[0])
		}
	}
	// Nothing may come from another origin: no CDN, no web font.
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(read(t, name)); m != "" {
			t.Errorf("%s refers to another origin: %s", name, m)
		}
	}
}

func TestCSPSafeCatches(t *testing.T) {
	// The patterns above are only useful if they match what they forbid.
	bad := []struct{ pattern, text string }{
		{`<script(\s[^>]*)?>\s*[^<\s]`, "<script>alert(1)</script>"},
		{`<script(\s[^>]*)?>\s*[^<\s]`, "<script type=\"module\">\n  go()</script>"},
		{`\son[a-z]+\s*=`, `<button onclick="x()">`},
		{`innerHTML|outerHTML|insertAdjacentHTML|document\.write`, "el.innerHTML = claim"},
	}
	for _, b := range bad {
		if !regexp.MustCompile(b.pattern).MatchString(b.text) {
			t.Errorf("%q does not catch %q", b.pattern, b.text)
		}
	}
	if regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`).MatchString(`<script src="/app.js" defer></script>`) {
		t.Error("the inline-script pattern flags an external script")
	}
}
