package oidc

import (
	"testing"

	"golang.org/x/oauth2"
)

func TestAuthStyle(t *testing.T) {
	basic, post := oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams
	for _, tc := range []struct {
		token, revocation []string
		want              oauth2.AuthStyle
		bad               bool
	}{
		{nil, nil, basic, false}, // Discovery's default
		{[]string{"client_secret_basic", "client_secret_post"}, nil, basic, false},
		{[]string{"client_secret_post", "client_secret_basic"}, nil, basic, false},
		{[]string{"client_secret_post"}, nil, post, false},
		{[]string{"none", "client_secret_post", "private_key_jwt"}, nil, post, false},
		{[]string{"client_secret_basic", "client_secret_post"}, []string{"client_secret_post"}, post, false},
		{[]string{"client_secret_basic", "client_secret_post"}, []string{"client_secret_basic"}, basic, false},
		// The revocation endpoint lists nothing usable: the token
		// endpoint's choice stands, and revocation tries it.
		{[]string{"client_secret_post"}, []string{"private_key_jwt"}, post, false},
		{[]string{"private_key_jwt"}, nil, 0, true},
		{[]string{"none"}, nil, 0, true},
	} {
		got, err := authStyle(tc.token, tc.revocation)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("authStyle(%q, %q) = %v, %v; want %v (error %v)", tc.token, tc.revocation, got, err, tc.want, tc.bad)
		}
	}
}
