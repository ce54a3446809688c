package idp

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Default lifetimes. The access token is deliberately short so that a demo
// session shows bff refreshing it within a minute of logging in.
const (
	defaultAccessTokenLifetime  = time.Minute
	defaultIDTokenLifetime      = time.Hour
	defaultRefreshTokenLifetime = 12 * time.Hour

	// authRequestLifetime bounds how long a user may sit on the login form
	// and how long an authorization code stays redeemable.
	authRequestLifetime = 10 * time.Minute
)

// User is an account the OP can log in. Its fields become the standard
// claims: Subject is "sub", Username is "preferred_username", the rest map
// to "name", "given_name", "family_name" and "email" (always verified).
type User struct {
	Subject, Username, Password        string
	Name, GivenName, FamilyName, Email string
}

// DemoUser is the user `bff demo` prints: username "demo", password "demo".
func DemoUser() User {
	return User{
		Subject:    "demo-user",
		Username:   "demo",
		Password:   "demo",
		Name:       "Demo User",
		GivenName:  "Demo",
		FamilyName: "User",
		Email:      "demo@example.com",
	}
}

// Config describes the OP: where it lives, the one client it serves, who can
// log in and how long tokens last. Zero values get the documented defaults.
type Config struct {
	// Issuer is the absolute URL the OP names itself by, and may include a
	// path, e.g. "http://127.0.0.1:8080/idp". The Provider must be served so
	// that requests reach it with that path prefix stripped
	// (http.StripPrefix("/idp", p)); every URL it prints is absolute under
	// Issuer.
	Issuer string

	// ClientID and ClientSecret identify the one confidential web client. It
	// may authenticate with client_secret_basic or client_secret_post, uses
	// the code flow (PKCE S256 allowed) and the authorization_code and
	// refresh_token grants.
	ClientID, ClientSecret string
	// RedirectURIs are the client's registered redirect URIs; at least one.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the only URIs end_session will send the
	// browser to.
	PostLogoutRedirectURIs []string

	// BackchannelLogoutURI, when set, is where the OP posts a logout token
	// when the user signs out at the OP's own account page (OpenID Connect
	// Back-Channel Logout 1.0).
	BackchannelLogoutURI string
	// HTTPClient delivers logout tokens; nil is http.DefaultClient. Each
	// delivery is bounded by 5 seconds.
	HTTPClient *http.Client

	// Users who can log in. Empty means DemoUser() alone.
	Users []User

	// AccessTokenLifetime defaults to 1 minute.
	AccessTokenLifetime time.Duration
	// IDTokenLifetime defaults to 1 hour.
	IDTokenLifetime time.Duration
	// RefreshTokenLifetime defaults to 12 hours. It is counted from the
	// token's issue, and every rotation issues a new one.
	RefreshTokenLifetime time.Duration
	// RefreshReuseInterval is the grace period during which a refresh token that was
	// just rotated out may still be redeemed (as Keycloak, Auth0 and Okta allow), so two
	// replicas racing one refresh both succeed. 0 means strict rotation: a rotated-out
	// token is refused with invalid_grant.
	RefreshReuseInterval time.Duration

	// Logger receives one line per login and token grant, never a password
	// or token. Nil discards.
	Logger *slog.Logger
}

// settings is a validated Config with its defaults applied, so the rest of
// the package never has to ask whether a field was set.
type settings struct {
	issuer                 string
	clientID, clientSecret string
	redirectURIs           []string
	postLogoutRedirectURIs []string
	users                  []User
	demoUsers              bool // users is the default, so the form may show the hint
	accessTTL, idTTL       time.Duration
	refreshTTL             time.Duration
	reuseInterval          time.Duration
	backchannelURI         string
	httpClient             *http.Client
	log                    *slog.Logger
}

func (c Config) settings() (settings, error) {
	if err := checkAbsoluteURL(c.Issuer); err != nil {
		return settings{}, fmt.Errorf("issuer: %w", err)
	}
	if u, _ := url.Parse(c.Issuer); u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(u.Path, "/") {
		// Relying parties compare the issuer byte for byte, and endpoint
		// URLs are built by appending to it.
		return settings{}, fmt.Errorf("issuer %q: must have no query, fragment or trailing slash", c.Issuer)
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return settings{}, errors.New("client id and client secret are required")
	}
	if len(c.RedirectURIs) == 0 {
		return settings{}, errors.New("at least one redirect uri is required")
	}
	for _, u := range c.RedirectURIs {
		if err := checkAbsoluteURL(u); err != nil {
			return settings{}, fmt.Errorf("redirect uri: %w", err)
		}
	}
	if c.BackchannelLogoutURI != "" {
		if err := checkAbsoluteURL(c.BackchannelLogoutURI); err != nil {
			return settings{}, fmt.Errorf("back-channel logout uri: %w", err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := checkAbsoluteURL(u); err != nil {
			return settings{}, fmt.Errorf("post-logout redirect uri: %w", err)
		}
	}

	s := settings{
		issuer:                 c.Issuer,
		clientID:               c.ClientID,
		clientSecret:           c.ClientSecret,
		redirectURIs:           append([]string(nil), c.RedirectURIs...),
		postLogoutRedirectURIs: append([]string(nil), c.PostLogoutRedirectURIs...),
		users:                  append([]User(nil), c.Users...),
		accessTTL:              c.AccessTokenLifetime,
		idTTL:                  c.IDTokenLifetime,
		refreshTTL:             c.RefreshTokenLifetime,
		reuseInterval:          c.RefreshReuseInterval,
		backchannelURI:         c.BackchannelLogoutURI,
		httpClient:             cmp.Or(c.HTTPClient, http.DefaultClient),
		log:                    c.Logger,
	}
	if len(s.users) == 0 {
		s.users = []User{DemoUser()}
		s.demoUsers = true
	}
	if err := checkUsers(s.users); err != nil {
		return settings{}, err
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"access token lifetime", &s.accessTTL, defaultAccessTokenLifetime},
		{"id token lifetime", &s.idTTL, defaultIDTokenLifetime},
		{"refresh token lifetime", &s.refreshTTL, defaultRefreshTokenLifetime},
		{"refresh reuse interval", &s.reuseInterval, 0},
	} {
		if *d.v < 0 {
			return settings{}, fmt.Errorf("%s is negative: %v", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func checkAbsoluteURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) url", raw)
	}
	return nil
}

// checkUsers refuses accounts that could not log in or could be confused
// with one another.
func checkUsers(users []User) error {
	subjects := make(map[string]bool, len(users))
	usernames := make(map[string]bool, len(users))
	for i, u := range users {
		if u.Subject == "" || u.Username == "" || u.Password == "" {
			return fmt.Errorf("user %d: subject, username and password are required", i)
		}
		if subjects[u.Subject] {
			return fmt.Errorf("user %d: duplicate subject %q", i, u.Subject)
		}
		if usernames[u.Username] {
			return fmt.Errorf("user %d: duplicate username %q", i, u.Username)
		}
		subjects[u.Subject], usernames[u.Username] = true, true
	}
	return nil
}
