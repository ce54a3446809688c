package cookie

import (
	"bff/internal/bfftest/kit"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func mustSeal(t testing.TB, k *Keys, purpose string, pt []byte) string {
	t.Helper()
	s, err := k.Seal(purpose, pt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// randomBytes is deterministic noise (incompressible).
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustKeys(t, testKey(1))
	for _, pt := range [][]byte{
		{},
		[]byte("x"),
		[]byte(`{"access_token":"abc","refresh_token":"def"}`),
		tokenSetJSON(2500),
		bytes.Repeat([]byte("a"), MaxPlaintextLen),
		randomBytes(40_000, 1),
	} {
		s := mustSeal(t, k, "session", pt)
		got, current, err := k.Open("session", s)
		if err != nil || !current || !bytes.Equal(got, pt) {
			t.Fatalf("len %d: Open = %d bytes, current %v, err %v", len(pt), len(got), current, err)
		}
		if s2 := mustSeal(t, k, "session", pt); s2 == s {
			t.Fatal("two seals of the same plaintext are equal: IV reused")
		}
	}
}

// Seal deflates by hand and Open decodes by hand: a value made with
// go-jose's own Compression option is the same format and must open, and
// go-jose must decrypt and inflate Seal's output.
func TestGoJoseDeflateInterop(t *testing.T) {
	key := testKey(1)
	k := mustKeys(t, key)
	pt := tokenSetJSON(3000)
	s := kit.JOSESeal(t, jose.DIRECT, jose.A256GCM, key, kid(key), "session", pt)
	if got, current, err := k.Open("session", s); err != nil || !current || !bytes.Equal(got, pt) {
		t.Fatalf("go-jose DEFLATE value: %d bytes, %v, %v", len(got), current, err)
	}
	obj, err := jose.ParseEncryptedCompact(mustSeal(t, k, "session", pt),
		[]jose.KeyAlgorithm{jose.DIRECT}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := obj.Decrypt(key); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("go-jose cannot decrypt Seal's output: %v", err)
	}
	ct := strings.Split(mustSeal(t, k, "session", pt), ".")[3]
	if n := base64.RawURLEncoding.DecodedLen(len(ct)); n > len(pt)*85/100 {
		t.Errorf("ciphertext is %d bytes for %d of JSON: not compressed?", n, len(pt))
	}
}

func TestSealHeader(t *testing.T) {
	k := mustKeys(t, testKey(1), testKey(2))
	s := mustSeal(t, k, "login", []byte("hello"))
	seg := strings.Split(s, ".")
	if len(seg) != 5 || seg[1] != "" {
		t.Fatalf("not a dir JWE compact serialization: %d segments, key %q", len(seg), seg[1])
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"alg": "dir", "enc": "A256GCM", "zip": "DEF", "kid": kid(testKey(1)), "bff": "login"}
	if len(h) != len(want) {
		t.Errorf("header %v, want %v", h, want)
	}
	for name, v := range want {
		if h[name] != v {
			t.Errorf("header %s = %v, want %v", name, h[name], v)
		}
	}
}

func TestSealRefuses(t *testing.T) {
	k := mustKeys(t, testKey(1))
	if _, err := k.Seal("", []byte("x")); err == nil {
		t.Error("empty purpose accepted")
	}
	if _, err := (*Keys)(nil).Seal("session", []byte("x")); err == nil {
		t.Error("nil ring sealed")
	}
	if _, err := k.Seal("session", make([]byte, MaxPlaintextLen+1)); err == nil {
		t.Error("plaintext over MaxPlaintextLen accepted")
	}
	if _, err := k.Seal("session", randomBytes(MaxSealedLen, 2)); err == nil {
		t.Error("sealed value over MaxSealedLen returned")
	}
}

func TestRotation(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	old := mustSeal(t, mustKeys(t, k1), "session", []byte("tokens"))
	for _, tc := range []struct {
		name    string
		ring    *Keys
		current bool
		ok      bool
	}{
		{"K1", mustKeys(t, k1), true, true},
		{"K2,K1", mustKeys(t, k2, k1), false, true},
		{"K1,K2", mustKeys(t, k1, k2), true, true},
		{"K2", mustKeys(t, k2), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, current, err := tc.ring.Open("session", old)
			if !tc.ok {
				if !errors.Is(err, ErrInvalid) || pt != nil || current {
					t.Fatalf("opened with the wrong ring: %q %v %v", pt, current, err)
				}
				return
			}
			if err != nil || string(pt) != "tokens" || current != tc.current {
				t.Fatalf("Open = %q, current %v, err %v; want current %v", pt, current, err, tc.current)
			}
		})
	}
	// A reseal under the new ring is current.
	ring := mustKeys(t, k2, k1)
	if _, current, err := ring.Open("session", mustSeal(t, ring, "session", []byte("tokens"))); err != nil || !current {
		t.Fatalf("reseal: current %v err %v", current, err)
	}
}

// flip changes the character at i to another base64url character whose
// 6 bits all differ, so the decoded bytes change wherever i is.
func flip(s string, i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, s[i])
	return s[:i] + string(alphabet[v^0x3f]) + s[i+1:]
}

func TestOpenRefuses(t *testing.T) {
	key := testKey(1)
	k := mustKeys(t, key)
	pt := tokenSetJSON(600)
	good := mustSeal(t, k, "session", pt)
	other := mustSeal(t, k, "session", []byte("another value"))
	seg := strings.Split(good, ".")
	oseg := strings.Split(other, ".")
	join := func(s []string) string { return strings.Join(s, ".") }
	with := func(i int, v string) string {
		s := append([]string(nil), seg...)
		s[i] = v
		return join(s)
	}
	cases := map[string]string{
		"empty":                  "",
		"garbage":                "garbage",
		"five empty segments":    "....",
		"dots and letters":       "a.b.c.d.e",
		"JSON serialization":     `{"protected":"` + seg[0] + `","iv":"` + seg[2] + `","ciphertext":"` + seg[3] + `","tag":"` + seg[4] + `"}`,
		"over-long":              strings.Repeat("A", MaxSealedLen+1),
		"over-long, valid start": good + strings.Repeat("A", MaxSealedLen),
		"tamper header":          with(0, flip(seg[0], len(seg[0])/2)),
		"tamper encrypted key":   with(1, "AAAA"),
		"tamper iv":              with(2, flip(seg[2], 3)),
		"tamper ciphertext":      with(3, flip(seg[3], len(seg[3])/2)),
		"tamper tag":             with(4, flip(seg[4], 0)),
		"tag unused bits":        with(4, seg[4][:len(seg[4])-1]+nextChar(seg[4][len(seg[4])-1])),
		"iv unused bits":         with(2, seg[2]+"A"),
		"newline in ciphertext":  with(3, seg[3][:10]+"\n"+seg[3][10:]),
		"padding":                with(4, seg[4]+"=="),
		"truncated by one":       good[:len(good)-1],
		"truncated tag":          join(seg[:4]) + ".",
		"four segments":          join(seg[:4]),
		"six segments":           good + ".AAAA",
		"swap iv and tag":        join([]string{seg[0], "", seg[4], seg[3], seg[2]}),
		"swap ciphertext and iv": join([]string{seg[0], "", seg[3], seg[2], seg[4]}),
		"tag from another seal":  with(4, oseg[4]),
		"iv from another seal":   with(2, oseg[2]),
		"header from another":    join([]string{mustSealSplit(t, k, "login")[0], "", seg[2], seg[3], seg[4]}),
		"wrong purpose":          mustSeal(t, k, "login", pt),
		"purpose prefix":         mustSeal(t, k, "sessio", pt),
		"no purpose":             kit.JOSESeal(t, jose.DIRECT, jose.A256GCM, key, kid(key), "", pt),
		"unknown kid":            kit.JOSESeal(t, jose.DIRECT, jose.A256GCM, key, "AAAAAAAAAAA", "session", pt),
		"missing kid":            kit.JOSESeal(t, jose.DIRECT, jose.A256GCM, key, "", "session", pt),
		"kid of another key":     kit.JOSESeal(t, jose.DIRECT, jose.A256GCM, testKey(2), kid(key), "session", pt),
		"enc A128GCM":            kit.JOSESeal(t, jose.DIRECT, jose.A128GCM, key[:16], kid(key), "session", pt),
		"enc A256CBC-HS512":      kit.JOSESeal(t, jose.DIRECT, jose.A256CBC_HS512, append(key, key...), kid(key), "session", pt),
		"alg A256GCMKW":          kit.JOSESeal(t, jose.A256GCMKW, jose.A256GCM, key, kid(key), "session", pt),
		"alg A256KW":             kit.JOSESeal(t, jose.A256KW, jose.A256GCM, key, kid(key), "session", pt),
	}
	for i := range good {
		cases["prefix "+strconv.Itoa(i)] = good[:i]
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			got, current, err := k.Open("session", in)
			if !errors.Is(err, ErrInvalid) || got != nil || current {
				t.Fatalf("Open = %d bytes, current %v, err %v", len(got), current, err)
			}
			if len(in) >= 16 && strings.Contains(err.Error(), in[len(in)-16:]) {
				t.Fatalf("error %q quotes the sealed value", err)
			}
			assertNoLeak(t, err.Error(), rawURL(key), string(pt))
		})
	}
	if _, _, err := (*Keys)(nil).Open("session", good); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil ring: %v", err)
	}
}

func mustSealSplit(t testing.TB, k *Keys, purpose string) []string {
	return strings.Split(mustSeal(t, k, purpose, []byte("x")), ".")
}

// nextChar is the base64url character after c; for a canonical final
// character it differs only in unused bits.
func nextChar(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.IndexByte(alphabet, c)+1])
}

func TestZipBomb(t *testing.T) {
	key := testKey(1)
	k := mustKeys(t, key)
	// 40 MB of zeros deflates ~1000:1, so the bomb fits under MaxSealedLen and
	// it is go-jose's inflate limit, not the length cap, that must stop it.
	bomb := kit.JOSESeal(t, jose.DIRECT, jose.A256GCM, key, kid(key), "session", make([]byte, 40<<20))
	if len(bomb) > MaxSealedLen {
		t.Fatalf("bomb is %d bytes, over MaxSealedLen: the test would not reach inflation", len(bomb))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	pt, _, err := k.Open("session", bomb)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrInvalid) || pt != nil {
		t.Fatalf("zip bomb opened: %d bytes, err %v", len(pt), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("opening the bomb allocated %d bytes", alloc)
	}
}

// TestHeaderCacheHoldsOnlyOpened: protected headers that pass every check
// but the AES-GCM tag must not take the header cache's places, or 64
// crafted values would fill it for good.
func TestHeaderCacheHoldsOnlyOpened(t *testing.T) {
	key := testKey(1)
	k, err := NewKeys(key)
	if err != nil {
		t.Fatal(err)
	}
	genuine, err := k.Seal("session", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(genuine, ".")
	for i := range 2 * maxCachedHeaders {
		// A header that differs only in an extra space still parses, names
		// the right key and asks for dir/A256GCM; its tag cannot match.
		h := fmt.Sprintf(`{"alg":"dir","enc":"A256GCM","zip":"DEF","kid":%q,"bff":"session"%s}`, kid(key), strings.Repeat(" ", i))
		forged := base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + rest
		if _, _, err := k.Open("session", forged); !errors.Is(err, ErrTampered) {
			t.Fatalf("forged header %d: %v, want ErrTampered", i, err)
		}
	}
	if n := len(k.open.headers); n != 0 {
		t.Errorf("%d headers cached that never opened a value", n)
	}
	if _, _, err := k.Open("session", genuine); err != nil {
		t.Fatal(err)
	}
	if n := len(k.open.headers); n != 1 {
		t.Errorf("%d headers cached after a genuine open, want 1", n)
	}
}
