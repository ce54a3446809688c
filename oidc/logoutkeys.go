package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/time/rate"
)

// Logout tokens come from anyone who can reach bff, not from the IdP's
// token endpoint, so their keys are not go-oidc's RemoteKeySet: it fetches
// the JWKS again whenever a token fails to verify against the keys it
// holds, with no minimum interval, and every forged token would become a
// request to the IdP. logoutKeys fetches again only for a token whose kid
// is not among the keys it holds, and only as often as its limiter
// allows, for every caller together: a per-address limit would throttle
// the IdP itself. A token signed with a key the IdP has just
// rotated in waits at most one interval: until then the IdP is told to
// retry (503 with Retry-After), and any fetch in between, even one a
// forged token caused, brings the new key in.

const (
	keyRefetchInterval = 10 * time.Second
	keyRefetchBurst    = 2
	// maxJWKSBytes bounds what is read of the IdP's key set.
	maxJWKSBytes = 1 << 20
)

// keysLimited is a logout token that no held key verifies, at a time when
// the keys cannot be fetched again yet.
type keysLimited struct{ retryAfter time.Duration }

func (e *keysLimited) Error() string {
	return "no key held verifies the token, and the keys were fetched too recently to fetch again"
}

// retryAfterSeconds is the Retry-After header's value for e.
func (e *keysLimited) retryAfterSeconds() string {
	return strconv.Itoa(int(math.Ceil(e.retryAfter.Seconds())))
}

// keysLimitedKey carries a *keysLimited through go-oidc's verifier, which
// keeps only the message of its key set's errors.
type keysLimitedKey struct{}

type logoutKeys struct {
	url    string
	client *http.Client
	now    func() time.Time
	limit  *rate.Limiter

	mu   sync.Mutex // one fetch at a time; the others then use its keys
	keys atomic.Pointer[[]jose.JSONWebKey]
}

func newLogoutKeys(jwksURL string, client *http.Client, now func() time.Time) *logoutKeys {
	return &logoutKeys{url: jwksURL, client: client, now: now, limit: rate.NewLimiter(rate.Every(keyRefetchInterval), keyRefetchBurst)}
}

// newLogoutVerifier checks a logout token's signature, issuer and
// audience; the rest is verifyLogoutToken's.
func (a *Auth) newLogoutVerifier(d *Discovery) *gooidc.IDTokenVerifier {
	keys := newLogoutKeys(d.JWKS, a.cfg.HTTPClient, a.now)
	// exp is optional in a logout token (Hydra sends none): it is checked
	// by verifyLogoutToken, when present.
	return gooidc.NewVerifier(d.Issuer, keys, &gooidc.Config{
		ClientID: a.cfg.ClientID, Now: a.now, SkipExpiryCheck: true, SupportedSigningAlgs: d.algorithms(),
	})
}

// VerifySignature is gooidc.KeySet's: the verifier has checked the
// algorithm, and calls it with the request's context.
func (k *logoutKeys) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, joseAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errors.New("malformed jwt")
	}
	if payload, again := check(jws, k.keys.Load()); !again {
		return verified(payload)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	// Another call may have fetched them while this one waited.
	if payload, again := check(jws, k.keys.Load()); !again {
		return verified(payload)
	}
	now := k.now()
	if r := k.limit.ReserveN(now, 1); r.DelayFrom(now) > 0 {
		r.CancelAt(now)
		e := &keysLimited{retryAfter: r.DelayFrom(now)}
		if out, ok := ctx.Value(keysLimitedKey{}).(*keysLimited); ok {
			*out = *e
		}
		return nil, e
	}
	keys, err := k.fetch(ctx)
	if err != nil {
		return nil, err
	}
	k.keys.Store(&keys)
	payload, _ := check(jws, &keys)
	return verified(payload)
}

// check verifies jws with the key its kid names, or with any key when it
// names none, as go-oidc does. again reports that newer keys might verify
// it: none of keys does, and none has its kid. A kid the IdP published
// names one key, so a token that names it and fails is forged, and is no
// reason to fetch.
func check(jws *jose.JSONWebSignature, keys *[]jose.JSONWebKey) (payload []byte, again bool) {
	if keys == nil {
		return nil, true
	}
	kid := jws.Signatures[0].Header.KeyID
	again = true
	for i := range *keys {
		key := &(*keys)[i]
		if kid != "" && key.KeyID != kid {
			continue
		}
		if payload, err := jws.Verify(key); err == nil {
			return payload, false
		}
		again = kid == ""
	}
	return nil, again
}

func verified(payload []byte) ([]byte, error) {
	if payload == nil {
		return nil, errors.New("no key of the identity provider verifies the token")
	}
	return payload, nil
}

// fetch reads the IdP's key set, skipping keys it cannot use, as RFC 7517
// asks.
func (k *logoutKeys) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching the jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching the jwks: the identity provider answered %d", resp.StatusCode)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("the jwks does not decode: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) == nil && key.Valid() && key.IsPublic() {
			keys = append(keys, key)
		}
	}
	return keys, nil
}
