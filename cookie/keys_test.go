package cookie

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// testKey returns a fixed, random-looking 32-byte key. Its first bytes encode
// to "-_-_" in base64url and "+/+/" in standard base64, so the two flavours
// really differ.
func testKey(n int) []byte {
	k := sha256.Sum256([]byte(fmt.Sprintf("bff cookie test key %d", n)))
	k[0], k[1], k[2] = 0xfb, 0xff, 0xbf
	return k[:]
}

func mustKeys(t testing.TB, keys ...[]byte) *Keys {
	t.Helper()
	k, err := NewKeys(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	rawURL = base64.RawURLEncoding.EncodeToString
	padURL = base64.URLEncoding.EncodeToString
	rawStd = base64.RawStdEncoding.EncodeToString
	padStd = base64.StdEncoding.EncodeToString
)

func TestParseKeysGood(t *testing.T) {
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	for _, tc := range []struct {
		name string
		in   string
		want [][]byte
	}{
		{"base64url raw", rawURL(k1), [][]byte{k1}},
		{"base64url padded", padURL(k1), [][]byte{k1}},
		{"std raw", rawStd(k1), [][]byte{k1}},
		{"std padded", padStd(k1), [][]byte{k1}},
		{"spaces", "  \t" + rawURL(k1) + "  ", [][]byte{k1}},
		{"several, mixed flavours", rawURL(k1) + " , " + padStd(k2) + ",\t" + padURL(k3), [][]byte{k1, k2, k3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeys(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if k.Len() != len(tc.want) {
				t.Fatalf("Len = %d, want %d", k.Len(), len(tc.want))
			}
			for i, w := range tc.want {
				if !bytes.Equal(k.keys[i].raw[:], w) {
					t.Errorf("key %d differs", i+1)
				}
				if k.keys[i].id != kid(w) {
					t.Errorf("key %d: kid %q, want %q", i+1, k.keys[i].id, kid(w))
				}
			}
		})
	}
}

func TestParseKeysBad(t *testing.T) {
	k1, k2 := rawURL(testKey(1)), rawURL(testKey(2))
	short, long := testKey(3)[:31], append(testKey(4), 0x42)
	// Same bytes as k1, but the last character's unused bits are set.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	nonCanonical := k1[:len(k1)-1] + string(alphabet[strings.IndexByte(alphabet, k1[len(k1)-1])+1])
	for _, tc := range []struct {
		name    string
		in      string
		bad     string // the offending entry, which must not appear in the error
		wantMsg string
	}{
		{"empty string", "", "", "no key"},
		{"only spaces", "   ", "", "no key"},
		{"trailing comma", k1 + ",", "", "entry 2: empty"},
		{"leading comma", "," + k1, "", "entry 1: empty"},
		{"blank middle entry", k1 + ", ," + k2, "", "entry 2: empty"},
		{"bad character", k1 + "," + k2[:20] + "!" + k2[21:], k2[:20] + "!" + k2[21:], "entry 2: not base64url or base64"},
		{"mixed flavours", rawURL(testKey(5))[:10] + "+" + rawURL(testKey(5))[11:], rawURL(testKey(5))[:10] + "+" + rawURL(testKey(5))[11:], "entry 1: not base64"},
		{"inner newline", k2[:20] + "\n" + k2[20:], k2[:20] + "\n" + k2[20:], "entry 1: not base64"},
		{"inner space", k2[:20] + " " + k2[20:], k2[:20] + " " + k2[20:], "entry 1: not base64"},
		{"non-canonical last char", nonCanonical, nonCanonical, "entry 1: not base64"},
		{"too much padding", padURL(testKey(6)) + "=", padURL(testKey(6)) + "=", "entry 1: not base64"},
		{"31 bytes", k1 + "," + rawURL(short), rawURL(short), "entry 2: decodes to 31 bytes, want 32"},
		{"33 bytes", padStd(long), padStd(long), "entry 1: decodes to 33 bytes, want 32"},
		{"16 bytes", rawURL(testKey(7)[:16]), rawURL(testKey(7)[:16]), "entry 1: decodes to 16 bytes"},
		{"hex, not base64", fmt.Sprintf("%x", testKey(8)), fmt.Sprintf("%x", testKey(8)), "entry 1: decodes to 48 bytes"},
		{"duplicate", k1 + "," + k2 + "," + k1, k1, "entry 3: duplicate of entry 1"},
		{"duplicate in another flavour", k1 + "," + padStd(testKey(1)), k1, "entry 2: duplicate of entry 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeys(tc.in)
			if err == nil {
				t.Fatalf("ParseKeys accepted it: %v", k)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			assertNoLeak(t, err.Error(), tc.bad, k1, k2)
		})
	}
}

// assertNoLeak fails when msg holds any 8-byte piece of the secrets.
func assertNoLeak(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for i := 0; i+8 <= len(s); i++ {
			if strings.Contains(msg, s[i:i+8]) {
				t.Fatalf("message %q leaks part of the key material", msg)
			}
		}
	}
}

func TestNewKeys(t *testing.T) {
	if _, err := NewKeys(); err == nil {
		t.Error("no keys accepted")
	}
	if _, err := NewKeys(testKey(1), testKey(2)[:31]); err == nil || !strings.Contains(err.Error(), "key 2: 31 bytes") {
		t.Errorf("short key: %v", err)
	}
	if _, err := NewKeys(testKey(1), testKey(1)); err == nil || !strings.Contains(err.Error(), "key 2: duplicate of key 1") {
		t.Errorf("duplicate: %v", err)
	}
	b := testKey(1)
	k := mustKeys(t, b, testKey(2))
	b[5] ^= 1 // the ring keeps its own copy
	if !bytes.Equal(k.keys[0].raw[:], testKey(1)) {
		t.Error("NewKeys did not copy the key")
	}
	if k.Len() != 2 || (*Keys)(nil).Len() != 0 {
		t.Error("Len")
	}
}

func TestKid(t *testing.T) {
	k := testKey(1)
	id := kid(k)
	if len(id) != 11 || id != kid(testKey(1)) || id == kid(testKey(2)) {
		t.Fatalf("kid %q: want 11 characters, stable, distinct per key", id)
	}
	assertNoLeak(t, id, rawURL(k), rawStd(k))
	plain := sha256.Sum256(k)
	if id == rawURL(plain[:8]) {
		t.Error("kid is not domain-separated from a plain hash of the key")
	}
}

func TestKeysNeverPrintKeys(t *testing.T) {
	k := mustKeys(t, testKey(1), testKey(2))
	secret := []string{rawURL(testKey(1)), rawStd(testKey(1)), fmt.Sprintf("%x", testKey(1)), fmt.Sprint(testKey(1)[:8])}
	secret[3] = strings.Trim(secret[3], "[]")
	type config struct{ Keys *Keys }
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		out := fmt.Sprintf(verb, k) + fmt.Sprintf(verb, config{k})
		for _, s := range secret {
			if strings.Contains(out, s) {
				t.Errorf("%s prints key material: %s", verb, out)
			}
		}
		if !strings.Contains(out, k.keys[0].id) {
			t.Errorf("%s does not show the kid: %s", verb, out)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	s, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 43 || strings.ContainsAny(s, "=+/") {
		t.Errorf("%q is not 43 characters of unpadded base64url", s)
	}
	s2, _ := GenerateKey(rand.Reader)
	k, err := ParseKeys(s + "," + s2)
	if err != nil || k.Len() != 2 {
		t.Fatalf("generated keys do not parse: %v", err)
	}
	if _, err := GenerateKey(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Error("short random source accepted")
	}
	if _, err := GenerateKey(errReader{}); !errors.Is(err, errBoom) {
		t.Errorf("reader error not wrapped: %v", err)
	}
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }
