package kit

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// DecodeJWTClaims decodes a JWT's claims without verifying it.
func DecodeJWTClaims(jwt string) (map[string]any, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	return c, nil
}

// JWTClaims is DecodeJWTClaims for a token that must be a JWT.
func JWTClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	c, err := DecodeJWTClaims(jwt)
	if err != nil {
		t.Fatalf("decoding a JWT's claims: %v", err)
	}
	return c
}
