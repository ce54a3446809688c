package cookie

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// tokenSetJSON is a realistic session plaintext of about n bytes (at least
// ~1.8 kB): JWT access and ID tokens with RS256-sized signatures, an opaque
// refresh token, timestamps, and random base64 filler up to n. Deterministic
// for a given n. It compresses, but not trivially.
func tokenSetJSON(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 2))
	b64 := func(k int) string {
		b := make([]byte, k)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return rawURL(b)
	}
	sub := b64(16)
	jwt := func(aud string) string {
		hdr := `{"alg":"RS256","kid":"` + b64(9) + `","typ":"JWT"}`
		claims := fmt.Sprintf(`{"iss":"https://idp.example.com/realms/demo","sub":%q,"aud":%q,"exp":%d,"iat":%d,"sid":%q,"email":"jane.doe@example.com","name":"Jane Doe","scope":"openid profile email offline_access"}`,
			sub, aud, 1_790_000_000+r.IntN(1000), 1_789_990_000, b64(16))
		return rawURL([]byte(hdr)) + "." + rawURL([]byte(claims)) + "." + b64(256)
	}
	ts := map[string]any{
		"access_token":  jwt("orders-api"),
		"token_type":    "Bearer",
		"refresh_token": b64(64),
		"id_token":      jwt("bff"),
		"expiry":        "2026-11-25T16:10:00Z",
		"created":       1_789_990_000,
		"last_seen":     1_789_991_234,
	}
	out, _ := json.Marshal(ts)
	if pad := n - len(out) - len(`,"x":""`); pad > 0 {
		ts["x"] = b64(pad * 3 / 4)
		out, _ = json.Marshal(ts)
	}
	return out
}

func BenchmarkSeal(b *testing.B) {
	k := mustKeys(b, testKey(1))
	pt := tokenSetJSON(2500)
	b.ReportAllocs()
	var s string
	for b.Loop() {
		var err error
		if s, err = k.Seal("session", pt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(pt)), "plain-B")
	b.ReportMetric(float64(len(s)), "sealed-B")
}

func BenchmarkOpen(b *testing.B) {
	k := mustKeys(b, testKey(2), testKey(1))
	s := mustSeal(b, k, "session", tokenSetJSON(2500))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := k.Open("session", s); err != nil {
			b.Fatal(err)
		}
	}
}

var benchJar = Chunked{Name: "__Host-bff-session", SameSite: http.SameSiteStrictMode}

func BenchmarkJarWrite(b *testing.B) {
	v := testValue(6000, 3)
	// The previous response left three chunks: this write expires one.
	r := httptest.NewRequest("GET", "https://bff.test/api/x", nil)
	r.Header.Set("Cookie", "theme=dark; __Host-bff-session.0=a; __Host-bff-session.1=b; __Host-bff-session.2=c")
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.Header())
		if err := benchJar.Write(w, r, v, 12*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJarRead(b *testing.B) {
	v := testValue(6000, 3)
	r := requestFrom(b, writeLines(b, benchJar, nil, v), "theme=dark", "_ga=GA1.2.3.4")
	b.ReportAllocs()
	for b.Loop() {
		if got, err := benchJar.Read(r); err != nil || len(got) != len(v) {
			b.Fatal(err)
		}
	}
}
