package kit

import (
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// JOSESeal builds a compact JWE with go-jose directly, DEFLATE-compressed,
// naming kid and, unless purpose is "", carrying purpose in the "bff"
// header as package cookie does: values that cookie.Keys.Seal would never
// make, or makes the same way.
func JOSESeal(t testing.TB, alg jose.KeyAlgorithm, enc jose.ContentEncryption, key []byte, kid, purpose string, plain []byte) string {
	t.Helper()
	opts := &jose.EncrypterOptions{Compression: jose.DEFLATE}
	if purpose != "" {
		opts.WithHeader("bff", purpose)
	}
	e, err := jose.NewEncrypter(enc, jose.Recipient{Algorithm: alg, Key: key, KeyID: kid}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := e.Encrypt(plain)
	if err != nil {
		t.Fatal(err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
