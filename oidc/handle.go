package oidc

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// A session too large for the cookie chunks allowed (or every session,
// with BFF_SESSION_STORE=redis) is kept in the shared store, and the
// cookie holds a handle to it: the record's id and the key it is
// encrypted under. The key exists only in the cookie, so the store alone
// cannot read a session, and a handle cannot read another session's
// record: its id is the record's authenticated data.

// purposeHandle seals a handle, so that a handle and a session can never
// be taken for one another.
const purposeHandle = "session-handle"

const handleVersion = 1

// handleRef names a session kept in the shared store.
type handleRef struct {
	ID  [16]byte
	Key [32]byte
	// storeKey is the record's key in the store, hashed once per handle
	// rather than on every request that reads the record.
	storeKey string
}

func newHandleRef(id [16]byte, key [32]byte) *handleRef {
	return &handleRef{ID: id, Key: key, storeKey: sharedKey("session", string(id[:]))}
}

func (h *handleRef) marshal() []byte {
	b := append([]byte{handleVersion}, h.ID[:]...)
	return append(b, h.Key[:]...)
}

func parseHandle(b []byte) (*handleRef, error) {
	var id [16]byte
	var key [32]byte
	if len(b) != 1+len(id)+len(key) || b[0] != handleVersion {
		return nil, errCorrupt
	}
	copy(id[:], b[1:])
	copy(key[:], b[1+len(id):])
	return newHandleRef(id, key), nil
}

// errSessionGone: a handle whose record is gone (ended, expired, or lost
// with the store's data). Its cookie can only be cleared.
var errSessionGone = errors.New("the stored session is gone")

// openHandle opens the session that h, sealed as sealed, names. hit is
// what this replica opened from the same sealed handle before, or nil: it
// is the session for as long as the store holds the record it was opened
// from. A refresh on any replica rewrites the record under the same
// handle, and then it is opened again. A record that is gone (ended,
// expired, or lost with the store's data) is no session.
func (a *Auth) openHandle(ctx context.Context, sealed string, h *handleRef, current bool, hit *openedSession) (*Session, bool, error) {
	reads := []string{h.storeKey}
	if hit != nil {
		reads = hit.reads
	}
	v, err := a.shared.GetCached(ctx, reads...)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	record := v[0]
	switch {
	case record == "":
		return nil, false, errSessionGone
	case hit != nil && record == hit.record:
		hit.s.endRead = v[1:]
		return &hit.s, hit.current, nil
	}
	s, err := openRecord(h, record)
	if err != nil {
		return nil, false, err
	}
	a.setEndKeys(s)
	a.opened.put(sealed, openedSession{s: *s, current: current, record: record, reads: append([]string{h.storeKey}, s.endKeys...)})
	return s, current, nil
}

// openRecord decrypts and decodes the record h names.
func openRecord(h *handleRef, record string) (*Session, error) {
	sealed := []byte(record)
	gcm, err := handleAEAD(h)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errCorrupt
	}
	plainSession, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], h.ID[:])
	if err != nil {
		return nil, errors.New("the stored session does not open with this handle")
	}
	s := new(Session)
	if err := s.UnmarshalBinary(plainSession); err != nil {
		return nil, err
	}
	s.handle = h
	return s, nil
}

// storeHandle writes s (plain is its encoding) to the shared store under
// its handle, a new one if it has none, for ttl, and returns the handle
// sealed for the cookie.
func (a *Auth) storeHandle(ctx context.Context, s *Session, plain []byte, ttl time.Duration) (string, error) {
	if s.handle == nil {
		var id [16]byte
		var key [32]byte
		rand.Read(id[:])
		rand.Read(key[:])
		s.handle = newHandleRef(id, key)
	}
	gcm, err := handleAEAD(s.handle)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	rand.Read(nonce)
	record := gcm.Seal(nonce, nonce, plain, s.handle.ID[:])
	if err := a.shared.Set(ctx, s.handle.storeKey, string(record), ttl); err != nil {
		return "", fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return a.cfg.Keys.Seal(purposeHandle, s.handle.marshal())
}

func handleAEAD(h *handleRef) (cipher.AEAD, error) {
	block, err := aes.NewCipher(h.Key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
