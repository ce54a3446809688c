package bfftest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// SigningKey is an RSA key a test adds to an OP's JWKS, so that it can
// sign tokens (logout tokens, ID tokens) the OP's key set vouches for.
type SigningKey struct {
	KID string
	key *rsa.PrivateKey
}

// NewSigningKey makes a key with a random kid.
func NewSigningKey(t testing.TB) *SigningKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &SigningKey{KID: rand.Text(), key: key}
}

// Publish is an [OPOptions].Wrap that adds the key to the OP's JWKS.
func (k *SigningKey) Publish(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != IdPPath+"/keys" {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.KID, Algorithm: "RS256", Use: "sig"})
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
}

// Sign signs claims with k as a logout token (typ logout+jwt, which ID
// token verification ignores).
func (k *SigningKey) Sign(t testing.TB, claims map[string]any) string {
	return k.SignAs(t, k.KID, claims)
}

// SignAs signs claims with k, naming the key kid.
func (k *SigningKey) SignAs(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
