package kit

import (
	"fmt"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
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

// UnverifiedClaims decodes the claims of a signed JWT into dst without
// checking its signature: for a token the test knows to be genuine, such
// as one an OP issued or a sealed session held.
func UnverifiedClaims(token string, dst any) error {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		return fmt.Errorf("parse jwt: %w", err)
	}
	if err := tok.UnsafeClaimsWithoutVerification(dst); err != nil {
		return fmt.Errorf("jwt claims: %w", err)
	}
	return nil
}
