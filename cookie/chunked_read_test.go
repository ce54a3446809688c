package cookie

import (
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestJarRead(t *testing.T) {
	long := testValue(4000, 1)
	for _, tc := range []struct {
		name   string
		cookie []string // one Cookie header line each
		want   string
		err    error
	}{
		{"no header", nil, "", ErrNoCookie},
		{"other cookies", []string{"theme=dark; sid=1"}, "", ErrNoCookie},
		{"prefix-sharing names", []string{sess + "-x=1; " + sess + "x=2; __Host-bff-sessio=3"}, "", ErrNoCookie},
		{"single", []string{"a=1; " + sess + "=abc; b=2"}, "abc", nil},
		{"single, empty value", []string{sess + "="}, "", nil},
		{"chunks out of order", []string{sess + ".2=c; " + sess + ".0=a; theme=x; " + sess + ".1=b"}, "abc", nil},
		{"chunks over two header lines", []string{sess + ".1=b", "x=1; " + sess + ".0=a"}, "ab", nil},
		{"spaces and tabs around", []string{" \t" + sess + ".0=a ;\t" + sess + ".1=b  "}, "ab", nil},
		{"ten chunks", []string{chunks(10, "v")}, strings.Repeat("v", 10), nil},
		{"other family beside", []string{"__Host-bff-login.0=zz; " + sess + "=s"}, "s", nil},
		{"duplicate single", []string{sess + "=a; " + sess + "=a"}, "", ErrMalformed},
		{"duplicate across lines", []string{sess + "=a", sess + "=b"}, "", ErrMalformed},
		{"single and chunk", []string{sess + "=a; " + sess + ".0=b"}, "", ErrMalformed},
		{"chunk and single", []string{sess + ".0=b; " + sess + "=a"}, "", ErrMalformed},
		{"duplicate chunk", []string{sess + ".0=a; " + sess + ".1=b; " + sess + ".0=a"}, "", ErrMalformed},
		{"missing .0", []string{sess + ".1=a"}, "", ErrMalformed},
		{"gap", []string{sess + ".0=a; " + sess + ".2=c"}, "", ErrMalformed},
		{"leading zero", []string{sess + ".0=a; " + sess + ".01=b"}, "", ErrMalformed},
		{"plus sign", []string{sess + ".0=a; " + sess + ".+1=b"}, "", ErrMalformed},
		{"minus zero", []string{sess + ".-0=a"}, "", ErrMalformed},
		{"double zero", []string{sess + ".00=a"}, "", ErrMalformed},
		{"hex", []string{sess + ".0x0=a"}, "", ErrMalformed},
		{"empty index", []string{sess + ".=a"}, "", ErrMalformed},
		{"letters", []string{sess + ".x=a"}, "", ErrMalformed},
		{"huge index", []string{sess + ".999999=a"}, "", ErrMalformed},
		{"index overflowing int", []string{sess + ".0=a; " + sess + "." + strings.Repeat("9", 40) + "=b"}, "", ErrMalformed},
		{"index = MaxChunks", []string{chunks(10, "v") + "; " + sess + ".10=v"}, "", ErrMalformed},
		{"eleven chunks", []string{chunks(11, "v")}, "", ErrMalformed},
		{"empty chunk", []string{sess + ".0=; " + sess + ".1=b"}, "", ErrMalformed},
		{"chunk without =", []string{sess + ".0"}, "", ErrMalformed},
		{"quoted value", []string{sess + `="abc"`}, "", ErrMalformed},
		{"space in value", []string{sess + ".0=a b"}, "", ErrMalformed},
		{"comma in value", []string{sess + "=a,b"}, "", ErrMalformed},
		{"non-ASCII value", []string{sess + "=caf\xc3\xa9"}, "", ErrMalformed},
		{"single over MaxSealedLen", []string{sess + "=" + strings.Repeat("a", MaxSealedLen+1)}, "", ErrMalformed},
		{"chunks over MaxSealedLen", []string{chunks(17, long)}, "", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://bff.test/", nil)
			for _, l := range tc.cookie {
				r.Header.Add("Cookie", l)
			}
			j := strict
			if tc.name == "chunks over MaxSealedLen" {
				j.MaxChunks = 30 // so that the length, not the count, is what refuses
			}
			got, err := j.Read(r)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Fatalf("Read = %.20q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "abc") {
				t.Errorf("error %q quotes a value", err)
			}
		})
	}
	if _, err := (Chunked{}).Read(cookieHeader("a=1")); err == nil {
		t.Error("a Chunked without Name read something")
	}
}

// chunks is "NAME.0=v; ...; NAME.n-1=v".
func chunks(n int, v string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = sess + "." + strconv.Itoa(i) + "=" + v
	}
	return strings.Join(parts, "; ")
}

// A Cookie header of thousands of cookies: refused after MaxChunks+1 of the
// family, without a per-cookie allocation; ignored cheaply when not ours.
func TestJarReadThousands(t *testing.T) {
	const n = 20_000
	family := make([]string, n)
	others := make([]string, n)
	for i := range n {
		family[i] = sess + "." + strconv.Itoa(n-1-i) + "=v"
		others[i] = "c" + strconv.Itoa(i) + "=v"
	}
	good := writeLines(t, strict, nil, testValue(6000, 1))
	for _, tc := range []struct {
		name   string
		header string
		err    error
	}{
		{"thousands of chunks", strings.Join(family, "; "), ErrMalformed},
		{"thousands of duplicates", strings.Repeat(sess+".0=v; ", n), ErrMalformed},
		{"thousands of others, then a session", strings.Join(others, "; ") + "; " +
			sess + ".0=" + lineValue(good[0]) + "; " + sess + ".1=" + lineValue(good[1]), nil},
		{"thousands of others only", strings.Join(others, "; "), ErrNoCookie},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := cookieHeader(tc.header)
			start := time.Now()
			if _, err := strict.Read(r); !errors.Is(err, tc.err) {
				t.Fatalf("Read: %v, want %v", err, tc.err)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("Read took %v", d)
			}
			allocs := testing.AllocsPerRun(10, func() { _, _ = strict.Read(r) })
			if allocs > 10 {
				t.Errorf("Read allocates %v times: per cookie, not per call", allocs)
			}
		})
	}
}
