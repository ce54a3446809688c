package cookie

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzReadOpen feeds raw Cookie headers through Chunked.Read and Keys.Open, as the
// BFF does for every request. Neither may panic, every error must wrap the
// package's sentinels, and whatever opens must be a plaintext that a seed
// genuinely sealed for the "session" purpose.
func FuzzReadOpen(f *testing.F) {
	k1, k2 := testKey(1), testKey(2)
	ring := mustKeys(f, k2, k1) // rotated: K1 values open with current=false
	old := mustKeys(f, k1)
	sealed := map[string]bool{} // session plaintexts; anything else must not open

	header := func(lines []string, extra ...string) string {
		pairs := extra
		for _, l := range lines {
			pairs = append(pairs, lineName(l)+"="+lineValue(l))
		}
		return strings.Join(pairs, "; ")
	}
	for i, pt := range [][]byte{
		[]byte(`{"sub":"jane"}`),
		tokenSetJSON(2500),
		randomBytes(3500, 1), // two chunks once sealed
		randomBytes(8000, 2), // three chunks
	} {
		for _, keys := range []*Keys{ring, old} {
			s := mustSeal(f, keys, "session", pt)
			sealed[string(pt)] = true
			lines := writeLines(f, strict, nil, s)
			f.Add(header(lines))
			f.Add(header(lines, "theme=dark", sess+"-x=1"))
			if len(lines) > 1 { // chunks reversed
				rev := append([]string(nil), lines...)
				rev[0], rev[len(rev)-1] = rev[len(rev)-1], rev[0]
				f.Add(header(rev))
			}
		}
		// Same keys, wrong purpose: must never open as a session.
		login := append([]byte("login "), pt...)
		f.Add(header(writeLines(f, strict, nil, mustSeal(f, ring, "login", login))))
		if i == 0 {
			s := mustSeal(f, ring, "session", pt)
			f.Add(sess + "=" + s[:len(s)-1])
			f.Add(sess + "=" + s + "; " + sess + ".0=" + s)
		}
	}
	for _, g := range []string{
		"", ";", "=", sess, sess + "=", sess + ".0=a", sess + "=a.b.c.d.e", sess + "=....",
		sess + ".0=a; " + sess + ".1=b; " + sess + ".01=c", sess + `="x"`, "a=b; c=d",
		sess + "=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA",
	} {
		f.Add(g)
	}

	f.Fuzz(func(t *testing.T, cookie string) {
		r := &http.Request{Header: http.Header{"Cookie": {cookie}}}
		v, err := strict.Read(r)
		if err != nil {
			if !errors.Is(err, ErrNoCookie) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Read error wraps neither sentinel: %v", err)
			}
			return
		}
		if len(v) > MaxSealedLen {
			t.Fatalf("Read returned %d bytes", len(v))
		}
		pt, _, err := ring.Open("session", v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Open error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if !sealed[string(pt)] {
			t.Fatalf("opened a plaintext no seed sealed: %.40q", pt)
		}
	})
}
