package idp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage is the OP's whole state, in memory, behind one mutex. op calls it
// from every request goroutine; the login form calls it too.
//
// Its methods that op calls are split by concern: this file has the auth
// requests, codes, client and keys; tokens.go the access and refresh tokens;
// claims.go what is said about users.
type storage struct {
	client       *client
	clientSecret string
	users        []User
	key          *signingKey
	accessTTL    time.Duration
	refreshTTL   time.Duration
	reuse        time.Duration

	mu            sync.Mutex
	authRequests  map[string]*authRequest  // by id
	codes         map[string]string        // authorization code -> auth request id, until redeemed
	redeemed      map[string]redeemedCode  // authorization code -> the grant it started
	accessTokens  map[string]*accessToken  // by id (the JWT's jti)
	refreshTokens map[string]*refreshToken // by token value
	sessions      map[string]*ssoSession   // browser sessions at the OP, by cookie value
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*storage)(nil)
)

func newStorage(s settings, c *client, key *signingKey) *storage {
	return &storage{
		client:        c,
		clientSecret:  s.clientSecret,
		users:         s.users,
		key:           key,
		accessTTL:     s.accessTTL,
		refreshTTL:    s.refreshTTL,
		reuse:         s.reuseInterval,
		authRequests:  make(map[string]*authRequest),
		codes:         make(map[string]string),
		redeemed:      make(map[string]redeemedCode),
		accessTokens:  make(map[string]*accessToken),
		refreshTokens: make(map[string]*refreshToken),
		sessions:      make(map[string]*ssoSession),
	}
}

// errNotFound is what op gets for an unknown or expired id, code or token.
// It deliberately never carries the value that was looked up, because op
// logs the errors storage returns.
var errNotFound = errors.New("not found or expired")

// CreateAuthRequest stores a validated /authorize request until the login
// page completes it: with the form, or at once from the browser's session
// at the OP (see loginForm.show).
func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	a := &authRequest{
		id:           rand.Text(),
		created:      time.Now(),
		clientID:     req.ClientID,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		scopes:       req.Scopes,
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		prompt:       req.Prompt,
		maxAge:       req.MaxAge,
	}
	if req.CodeChallenge != "" {
		// Discovery offers S256 only: a plain challenge is the verifier
		// itself, and protects nothing once the authorize URL leaks.
		if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
			return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
		}
		a.challenge = &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: oidc.CodeChallengeMethodS256}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep(a.created)
	s.authRequests[a.id] = a
	return a.clone(), nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok || a.expired(time.Now()) {
		return nil, errNotFound
	}
	return a.clone(), nil
}

// AuthRequestByCode redeems an authorization code. The code is spent by the
// lookup itself, not by a successful exchange, so a failed attempt (wrong
// PKCE verifier, wrong secret) cannot be retried with other guesses. A code
// that already bought tokens and comes back is a replay: RFC 6749 section
// 4.1.2 asks that the tokens it bought be revoked.
func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.redeemed[code]; ok {
		delete(s.redeemed, code)
		s.revokeGrant(r.grantID)
		return nil, errors.New("authorization code was already redeemed; its tokens are revoked")
	}
	id, ok := s.codes[code]
	if !ok {
		return nil, errNotFound
	}
	delete(s.codes, code)
	a, ok := s.authRequests[id]
	if !ok || !a.done || a.expired(time.Now()) {
		return nil, errNotFound
	}
	return a.clone(), nil
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok {
		return errNotFound
	}
	if a.code != "" {
		// op asks for one code per completed request; a second callback
		// visit must not leave two redeemable codes behind.
		delete(s.codes, a.code)
	}
	a.code = code
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.authRequests[id]; ok {
		delete(s.codes, a.code)
		delete(s.authRequests, id)
	}
	return nil
}

// pendingLogin returns the auth request the login form is about to complete,
// or errNotFound if it is unknown, expired or already completed.
func (s *storage) pendingLogin(id string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok || a.done || a.expired(time.Now()) {
		return nil, errNotFound
	}
	return a.clone(), nil
}

// completeLogin marks the auth request as authenticated by subject at
// authTime, in the browser session sid, which lets op's callback endpoint
// issue the code.
func (s *storage) completeLogin(id, subject string, authTime time.Time, sid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.authRequests[id]
	if !ok || a.done || a.expired(time.Now()) {
		return errNotFound
	}
	a.done, a.subject, a.authTime, a.sid = true, subject, authTime, sid
	return nil
}

// authenticate returns the user whose username and password these are. It
// does the same work whether or not the username exists, so its timing does
// not tell which accounts exist.
func (s *storage) authenticate(username, password string) (User, bool) {
	var found User
	match := 0
	for _, u := range s.users {
		if equalSecret(u.Username, username)&equalSecret(u.Password, password) == 1 {
			found, match = u, 1
		}
	}
	return found, match == 1
}

// equalSecret compares in constant time. Hashing first makes the time
// independent of the lengths too, which ConstantTimeCompare alone is not.
func equalSecret(a, b string) int {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:])
}

func (s *storage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.id {
		return nil, errors.New("unknown client")
	}
	return s.client, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, clientID, clientSecret string) error {
	if equalSecret(clientID, s.client.id)&equalSecret(clientSecret, s.clientSecret) != 1 {
		return errors.New("client authentication failed")
	}
	return nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

// GetKeyByIDAndClientID would find a client's key for private_key_jwt and
// the JWT bearer grant; the one client here authenticates with a secret.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("no client keys: only client secrets are supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("jwt profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// sweep forgets everything that can no longer be used, so a long-running
// demo does not grow without bound. The caller holds s.mu.
func (s *storage) sweep(now time.Time) {
	for id, a := range s.authRequests {
		if a.expired(now) {
			delete(s.codes, a.code)
			delete(s.authRequests, id)
		}
	}
	for code, r := range s.redeemed {
		if now.Sub(r.at) > authRequestLifetime {
			delete(s.redeemed, code)
		}
	}
	for id, t := range s.accessTokens {
		if now.After(t.expires) {
			delete(s.accessTokens, id)
		}
	}
	for v, t := range s.refreshTokens {
		if !s.redeemable(t, now) {
			delete(s.refreshTokens, v)
		}
	}
}
