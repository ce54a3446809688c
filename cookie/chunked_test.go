package cookie

import (
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const sess = "__Host-bff-session"

var strict = Chunked{Name: sess, SameSite: http.SameSiteStrictMode}

// testValue is n deterministic characters of a JWE compact serialization's
// alphabet.
func testValue(n int, seed uint64) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
	r := rand.New(rand.NewPCG(seed, 3))
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

// writeLines runs j.Write for a request r (may be nil) and returns the
// response's Set-Cookie lines.
func writeLines(t testing.TB, j Chunked, r *http.Request, v string) []string {
	t.Helper()
	w := httptest.NewRecorder()
	if err := j.Write(w, r, v, time.Hour); err != nil {
		t.Fatal(err)
	}
	return w.Header()["Set-Cookie"]
}

// browser is a real cookie jar (net/http/cookiejar) for https://bff.test/.
type browser struct {
	jar *cookiejar.Jar
	u   *url.URL
}

func newBrowser() *browser {
	j, _ := cookiejar.New(nil)
	u, _ := url.Parse("https://bff.test/")
	return &browser{j, u}
}

func (b *browser) apply(t testing.TB, lines []string) {
	t.Helper()
	for _, l := range lines {
		c, err := http.ParseSetCookie(l)
		if err != nil {
			t.Fatalf("unparsable Set-Cookie %.60q: %v", l, err)
		}
		b.jar.SetCookies(b.u, []*http.Cookie{c})
	}
}

// request carries the jar's cookies plus extra "name=value" pairs, in a
// shuffled order: Read must not depend on it.
func (b *browser) request(extra ...string) *http.Request {
	pairs := slices.Clone(extra)
	for _, c := range b.jar.Cookies(b.u) {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	rand.New(rand.NewPCG(uint64(len(pairs)), 4)).Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	r := httptest.NewRequest("GET", b.u.String(), nil)
	if len(pairs) > 0 {
		r.Header.Set("Cookie", strings.Join(pairs, "; "))
	}
	return r
}

func (b *browser) names() []string {
	var n []string
	for _, c := range b.jar.Cookies(b.u) {
		n = append(n, c.Name)
	}
	slices.Sort(n)
	return n
}

func requestFrom(t testing.TB, lines []string, extra ...string) *http.Request {
	b := newBrowser()
	b.apply(t, lines)
	return b.request(extra...)
}

func cookieHeader(h string) *http.Request {
	r := httptest.NewRequest("GET", "https://bff.test/", nil)
	r.Header.Set("Cookie", h)
	return r
}

// lineName and lineValue split "Set-Cookie" line text "NAME=VALUE; attrs".
func lineName(l string) string { n, _, _ := strings.Cut(l, "="); return n }
func lineValue(l string) string {
	_, v, _ := strings.Cut(l, "=")
	v, _, _ = strings.Cut(v, ";")
	return v
}

// Attributes as the spec writes them for a one-hour Strict cookie; the test's
// own oracle for line lengths, independent of the code under test.
const hourAttrs = "; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"

func overhead(name string) int { return len("Set-Cookie: ") + len(name) + 1 + len(hourAttrs) }

func TestJarChunkThreshold(t *testing.T) {
	single := MaxLine - overhead(sess)
	capacity := func(i int) int { return MaxLine - overhead(sess+"."+strconv.Itoa(i)) }
	upTo := func(n int) (sum int) {
		for i := range n {
			sum += capacity(i)
		}
		return sum
	}
	var lengths []int
	for _, l := range []int{0, 1, single, upTo(2), upTo(3), upTo(9), upTo(10)} {
		lengths = append(lengths, l-1, l, l+1)
	}
	for _, n := range lengths {
		if n < 0 {
			continue
		}
		v := testValue(n, uint64(n))
		w := httptest.NewRecorder()
		err := strict.Write(w, nil, v, time.Hour)
		lines := w.Header()["Set-Cookie"]
		if n > upTo(DefaultMaxChunks) {
			if err == nil || len(lines) != 0 {
				t.Errorf("len %d: needs %d+ chunks but wrote %d lines (err %v)", n, DefaultMaxChunks+1, len(lines), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("len %d: %v", n, err)
		}
		want := 1 // the fewest chunks that hold n bytes
		if n > single {
			for want = 2; upTo(want) < n; want++ {
			}
		}
		if len(lines) != want {
			t.Errorf("len %d: %d lines, want %d", n, len(lines), want)
		}
		var joined strings.Builder
		for i, l := range lines {
			if got := len("Set-Cookie: ") + len(l); got > MaxLine {
				t.Errorf("len %d: line %d is %d bytes", n, i, got)
			}
			wantName := sess
			if want > 1 {
				wantName = sess + "." + strconv.Itoa(i)
			}
			if lineName(l) != wantName || lineValue(l) == "" && n > 0 {
				t.Errorf("len %d: line %d is %.40q, want cookie %s", n, i, l, wantName)
			}
			if i < len(lines)-1 && len("Set-Cookie: ")+len(l) != MaxLine {
				t.Errorf("len %d: chunk %d not full (%d bytes)", n, i, len("Set-Cookie: ")+len(l))
			}
			joined.WriteString(lineValue(l))
		}
		if joined.String() != v {
			t.Errorf("len %d: chunks do not join to the value", n)
		}
	}
	if single != MaxLine-len("Set-Cookie: ")-len(strict.cookie(sess, "", 3600).String()) {
		t.Fatal("test oracle hourAttrs is out of date")
	}
}

func TestJarAttributes(t *testing.T) {
	for _, tc := range []struct {
		jar  Chunked
		want string
	}{
		{Chunked{Name: sess, SameSite: http.SameSiteStrictMode}, "Strict"},
		{Chunked{Name: "__Host-bff-login", SameSite: http.SameSiteLaxMode}, "Lax"},
		{Chunked{Name: "__Host-bff-login"}, "Lax"},
	} {
		j := tc.jar
		// A request holding three chunks and junk: writes and expiries of both sizes.
		r := cookieHeader(j.Name + ".0=a; " + j.Name + ".1=b; " + j.Name + ".2=c; " + j.Name + ".x=d")
		var lines []string
		lines = append(lines, writeLines(t, j, r, "short")...)
		lines = append(lines, writeLines(t, j, cookieHeader(j.Name+"=a"), testValue(9000, 1))...)
		w := httptest.NewRecorder()
		j.Expire(w, r)
		lines = append(lines, w.Header()["Set-Cookie"]...)
		w = httptest.NewRecorder()
		j.Expire(w, cookieHeader(""))
		lines = append(lines, w.Header()["Set-Cookie"]...)
		// write 1 + expire 4, write 3 + expire 1, Expire 4, Expire 1.
		if len(lines) != 5+4+4+1 {
			t.Fatalf("%d lines", len(lines))
		}
		for _, l := range lines {
			attrs := strings.Split(l, "; ")[1:]
			slices.Sort(attrs)
			maxAge := "Max-Age=3600"
			if lineValue(l) == "" {
				maxAge = "Max-Age=0"
			}
			want := []string{maxAge, "HttpOnly", "Path=/", "SameSite=" + tc.want, "Secure"}
			slices.Sort(want)
			if !slices.Equal(attrs, want) {
				t.Errorf("%s: %.40q... has attributes %q, want %q", j.Name, l, attrs, want)
			}
			if strings.Contains(strings.ToLower(l), "domain") {
				t.Errorf("Domain in %.60q", l)
			}
		}
	}
}

func TestJarMaxAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		12 * time.Hour:           "Max-Age=43200",
		1500 * time.Millisecond:  "Max-Age=1;",
		59999 * time.Millisecond: "Max-Age=59;",
		0:                        "Max-Age=1;",
		-time.Hour:               "Max-Age=1;",
	} {
		w := httptest.NewRecorder()
		if err := strict.Write(w, nil, "v", d); err != nil {
			t.Fatal(err)
		}
		if l := w.Header().Get("Set-Cookie"); !strings.Contains(l, want) {
			t.Errorf("maxAge %v: %q lacks %q", d, l, want)
		}
	}
}

func TestJarRoundTrip(t *testing.T) {
	lengths := []int{0, 1, 2, 3, 100, 4000, 4030, 4031, 4032, 8100}
	for n := 5; n <= 30_000; n += 1499 {
		lengths = append(lengths, n)
	}
	for _, n := range lengths {
		v := testValue(n, uint64(n))
		b := newBrowser()
		b.apply(t, writeLines(t, strict, nil, v))
		r := b.request("theme=dark", sess+"-x=1", sess+"x=2", "__Host-bff-login.0=3")
		got, err := strict.Read(r)
		if err != nil || got != v {
			t.Fatalf("len %d: Read = %d bytes, %v", n, len(got), err)
		}
	}
}

func TestJarExpiresStaleChunks(t *testing.T) {
	three, two, one := testValue(10_000, 1), testValue(6_000, 2), testValue(100, 3)
	for _, tc := range []struct {
		name        string
		before, now string
		wantExpired []string
		wantNames   []string
	}{
		{"3 chunks to single", three, one, []string{sess + ".0", sess + ".1", sess + ".2"}, []string{sess}},
		{"3 chunks to 2", three, two, []string{sess + ".2"}, []string{sess + ".0", sess + ".1"}},
		{"single to chunks", one, two, []string{sess}, []string{sess + ".0", sess + ".1"}},
		{"2 chunks to 3", two, three, nil, []string{sess + ".0", sess + ".1", sess + ".2"}},
		{"single to single", one, one, nil, []string{sess}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBrowser()
			b.apply(t, writeLines(t, strict, nil, tc.before))
			lines := writeLines(t, strict, b.request("other=1"), tc.now)
			var expired, names []string
			for _, l := range lines {
				names = append(names, lineName(l))
				if strings.Contains(l, "Max-Age=0") {
					expired = append(expired, lineName(l))
				}
			}
			if len(slices.Compact(slices.Sorted(slices.Values(names)))) != len(names) {
				t.Errorf("two Set-Cookie lines for one name: %q", names)
			}
			slices.Sort(expired)
			if !slices.Equal(expired, tc.wantExpired) {
				t.Errorf("expired %q, want %q", expired, tc.wantExpired)
			}
			b.apply(t, lines)
			if got := b.names(); !slices.Equal(got, tc.wantNames) {
				t.Errorf("browser holds %q, want %q", got, tc.wantNames)
			}
			if got, err := strict.Read(b.request()); err != nil || got != tc.now {
				t.Errorf("Read after rewrite: %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestJarWriteRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		jar  Chunked
		v    string
	}{
		{"more than MaxChunks", Chunked{Name: sess, MaxChunks: 2}, testValue(8100, 1)},
		{"more than DefaultMaxChunks", strict, testValue(40_100, 1)},
		{"over MaxSealedLen", Chunked{Name: sess, MaxChunks: 100}, testValue(MaxSealedLen+1, 1)},
		{"space", strict, "a b"},
		{"comma", strict, "a,b"},
		{"semicolon", strict, "a;b"},
		{"quote", strict, `"ab"`},
		{"backslash", strict, `a\b`},
		{"newline", strict, "a\nb"},
		{"non-ASCII", strict, "caf\xc3\xa9"},
		{"empty name", Chunked{}, "v"},
		{"invalid name", Chunked{Name: "bad name"}, "v"},
		{"name too long for a chunk", Chunked{Name: strings.Repeat("n", 4050)}, testValue(200, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			w.Header().Add("Set-Cookie", "theme=dark")
			r := cookieHeader(sess + ".0=a; " + sess + ".1=b")
			if err := tc.jar.Write(w, r, tc.v, time.Hour); err == nil {
				t.Fatal("Write accepted it")
			}
			if got := w.Header()["Set-Cookie"]; !slices.Equal(got, []string{"theme=dark"}) {
				t.Errorf("a failed Write changed Set-Cookie: %q", got)
			}
		})
	}
}

func TestJarOneLinePerName(t *testing.T) {
	r := cookieHeader(sess + "=old; " + sess + "=dup; theme=dark")
	w := httptest.NewRecorder()
	w.Header().Add("Set-Cookie", "theme=light; Path=/")
	for _, v := range []string{testValue(9000, 1), testValue(5000, 2), "x"} {
		if err := strict.Write(w, r, v, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got := w.Header()["Set-Cookie"]
	if len(got) != 2 || got[0] != "theme=light; Path=/" || lineName(got[1]) != sess || lineValue(got[1]) != "x" {
		t.Fatalf("after three writes: %q", got)
	}
	strict.Expire(w, r)
	got = w.Header()["Set-Cookie"]
	if len(got) != 2 || lineName(got[1]) != sess || !strings.Contains(got[1], "Max-Age=0") {
		t.Fatalf("after Expire: %q", got)
	}
}

func TestJarExpire(t *testing.T) {
	for _, tc := range []struct {
		cookie string
		want   []string
	}{
		{"", []string{sess}},
		{"theme=dark; " + sess + "-x=1; " + sess + "x=2", []string{sess}},
		{sess + "=a", []string{sess}},
		{sess + ".0=a; " + sess + ".1=b; theme=dark", []string{sess + ".0", sess + ".1"}},
		{sess + ".1=b; " + sess + ".1=b; " + sess + ".x=c; " + sess + ".999999=d; " + sess + "=e",
			[]string{sess, sess + ".1", sess + ".999999", sess + ".x"}},
	} {
		w := httptest.NewRecorder()
		strict.Expire(w, cookieHeader(tc.cookie))
		var names []string
		for _, l := range w.Header()["Set-Cookie"] {
			if lineValue(l) != "" || !strings.Contains(l, "Max-Age=0") {
				t.Errorf("not an expiry: %q", l)
			}
			names = append(names, lineName(l))
		}
		slices.Sort(names)
		if !slices.Equal(names, tc.want) {
			t.Errorf("Cookie %q: expired %q, want %q", tc.cookie, names, tc.want)
		}
	}
	// Expire and Write with a nil request do what they can.
	w := httptest.NewRecorder()
	strict.Expire(w, nil)
	if got := w.Header()["Set-Cookie"]; len(got) != 1 || lineName(got[0]) != sess {
		t.Errorf("Expire(nil): %q", got)
	}
}

func TestJarOwns(t *testing.T) {
	for name, want := range map[string]bool{
		sess: true, sess + ".0": true, sess + ".17": true, sess + ".x": true, sess + ".": true,
		sess + "-x": false, sess + "x": false, "__Host-bff-sessio": false, "": false,
		"__Host-bff-login": false, "x" + sess: false,
	} {
		if strict.Owns(name) != want {
			t.Errorf("Owns(%q) = %v", name, !want)
		}
	}
}
