package cookie

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// leakWindow is the shortest run of key-alphabet characters treated as key
// material: 12 characters are 9 bytes of a key. No error ParseKeys writes
// has a run that long of its own ("base64url" is 9), so a hit is a leak.
const leakWindow = 12

// FuzzParseKeys feeds arbitrary BFF_COOKIE_KEYS values to ParseKeys. It must
// never panic; an error must not repeat any stretch of the input that could
// be key material; and an accepted ring must hold one working key per entry
// and never print one.
func FuzzParseKeys(f *testing.F) {
	k1, k2 := testKey(1), testKey(2)
	for _, s := range []string{
		rawURL(k1), padURL(k1), rawStd(k1), padStd(k1),
		rawURL(k1) + "," + padStd(k2), " " + rawURL(k1) + " ,\t" + rawURL(k2) + "\n",
		rawURL(k1) + "," + rawURL(k1), rawURL(k1) + "," + padStd(k1),
		rawURL(k1)[:42], rawURL(k1) + "A", rawURL(k1) + "=", padURL(k1) + "=",
		rawURL(k1)[:20] + "\n" + rawURL(k1)[20:], rawURL(k1)[:20] + "\r" + rawURL(k1)[20:],
		rawURL(k1)[:42] + "B", // non-canonical trailing bits
		rawURL(k1)[:21] + "!" + rawURL(k1)[22:],
		rawURL(append(append([]byte{}, k1...), k2...)),
		"", " ", ",", ",,", rawURL(k1) + ",", "," + rawURL(k1), "\u00a0" + rawURL(k1) + "\u0085",
		strings.Repeat(rawURL(k1)+",", 50),
		"cookie keys: entry 1: not base64url or base64",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKeys(s)
		if err != nil {
			if k != nil {
				t.Fatalf("ParseKeys returned keys and an error %q", err)
			}
			if run := leakedRun(s, err.Error()); run != "" {
				t.Fatalf("error %q repeats input %q", err, run)
			}
			return
		}
		entries := strings.Split(s, ",")
		if k.Len() != len(entries) {
			t.Fatalf("%d keys from %d entries", k.Len(), len(entries))
		}
		for i := range k.keys {
			raw := hex.EncodeToString(k.keys[i].raw[:])
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
				out := fmt.Sprintf(verb, k)
				if strings.Contains(strings.ToLower(out), raw) {
					t.Fatalf("%s of the ring prints key %d in hex", verb, i+1)
				}
				for _, e := range entries {
					if run := leakedRun(strings.TrimSpace(e), out); run != "" {
						t.Fatalf("%s of the ring prints %q", verb, run)
					}
				}
			}
		}
		// What the ring seals, it opens, and every key it holds opens too.
		sealed, err := k.Seal("fuzz", []byte("plaintext"))
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if pt, current, err := k.Open("fuzz", sealed); err != nil || !current || string(pt) != "plaintext" {
			t.Fatalf("Open = %q, %v, %v", pt, current, err)
		}
		for i := range k.keys {
			one, err := NewKeys(k.keys[i].raw[:])
			if err != nil {
				t.Fatalf("key %d: %v", i+1, err)
			}
			sealed, err := one.Seal("fuzz", []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if _, current, err := k.Open("fuzz", sealed); err != nil || current != (i == 0) {
				t.Fatalf("key %d: Open current=%v err=%v", i+1, current, err)
			}
		}
	})
}

// leakedRun returns a stretch of in, leakWindow key-alphabet characters
// long, that out contains, or "".
func leakedRun(in, out string) string {
	const limit = 1 << 16 // keeps a huge input from making this quadratic
	in = in[:min(len(in), limit)]
	start := 0
	for i := 0; i <= len(in); i++ {
		if i < len(in) && isKeyChar(in[i]) {
			continue
		}
		for j := start; j+leakWindow <= i; j++ {
			if w := in[j : j+leakWindow]; strings.Contains(out, w) {
				return w
			}
		}
		start = i + 1
	}
	return ""
}

func isKeyChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '+' || c == '/' || c == '='
}
