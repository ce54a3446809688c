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
}

func (h *handleRef) marshal() []byte {
	b := append([]byte{handleVersion}, h.ID[:]...)
	return append(b, h.Key[:]...)
}

func parseHandle(b []byte) (*handleRef, error) {
	var h handleRef
	if len(b) != 1+len(h.ID)+len(h.Key) || b[0] != handleVersion {
		return nil, errCorrupt
	}
	copy(h.ID[:], b[1:])
	copy(h.Key[:], b[1+len(h.ID):])
	return &h, nil
}

func handleKey(id [16]byte) string { return sharedKey("session", string(id[:])) }

// errSessionGone: a handle whose record is gone (ended, expired, or lost
// with the store's data). Its cookie can only be cleared.
var errSessionGone = errors.New("the stored session is gone")

// loadHandle reads the session a handle names. A record that is gone
// (ended, expired, or lost with the store's data) is no session.
func (a *Auth) loadHandle(ctx context.Context, plain []byte) (*Session, error) {
	if a.shared == nil {
		return nil, errors.New("a session handle, but no shared store is configured")
	}
	h, err := parseHandle(plain)
	if err != nil {
		return nil, err
	}
	v, err := a.shared.GetCached(ctx, handleKey(h.ID))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	if v[0] == "" {
		return nil, errSessionGone
	}
	sealed := []byte(v[0])
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
		h := new(handleRef)
		rand.Read(h.ID[:])
		rand.Read(h.Key[:])
		s.handle = h
	}
	gcm, err := handleAEAD(s.handle)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	rand.Read(nonce)
	record := gcm.Seal(nonce, nonce, plain, s.handle.ID[:])
	if err := a.shared.Set(ctx, handleKey(s.handle.ID), string(record), ttl); err != nil {
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
