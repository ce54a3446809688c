package cookie

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// KeySize is the length in bytes of every cookie key (AES-256).
const KeySize = 32

// kidLabel separates the key-id hash from any other use of SHA-256 over a key.
const kidLabel = "bff/cookie/kid/v1\x00"

// Keys is an immutable key ring: the first key seals, every key opens
// (rotation without logging anyone out).
//
// A *Keys never prints its key material: every fmt verb shows only the count
// and the key ids.
type Keys struct {
	keys []key
	open *opener
}

type key struct {
	id  string // kid: derived from the key, safe to show
	raw [KeySize]byte
}

// ParseKeys parses BFF_COOKIE_KEYS: comma-separated entries, each the base64url
// or standard base64 encoding (padded or not) of exactly 32 bytes, surrounding
// spaces trimmed. Errors name the entry by its 1-based position and never
// contain any part of it.
func ParseKeys(s string) (*Keys, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("cookie keys: no key given")
	}
	entries := strings.Split(s, ",")
	raws := make([][]byte, 0, len(entries))
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			return nil, fmt.Errorf("cookie keys: entry %d: empty", i+1)
		}
		b, ok := decodeKey(e)
		if !ok {
			return nil, fmt.Errorf("cookie keys: entry %d: not base64url or base64", i+1)
		}
		if len(b) != KeySize {
			return nil, fmt.Errorf("cookie keys: entry %d: decodes to %d bytes, want %d", i+1, len(b), KeySize)
		}
		raws = append(raws, b)
	}
	return newKeys("entry", raws)
}

// decodeKey accepts the four base64 flavours. Characters are checked first
// because the decoders silently skip '\r' and '\n'; Strict rejects
// non-canonical trailing bits, so one key has one spelling per flavour.
func decodeKey(e string) ([]byte, bool) {
	for i := 0; i < len(e); i++ {
		c := e[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '+' || c == '/' || c == '=') {
			return nil, false
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding,
	} {
		if b, err := enc.Strict().DecodeString(e); err == nil {
			return b, true
		}
	}
	return nil, false
}

// NewKeys builds a ring from raw keys, each exactly 32 bytes, at least one.
// The first key seals. The bytes are copied.
func NewKeys(keys ...[]byte) (*Keys, error) {
	return newKeys("key", keys)
}

// newKeys builds the ring; noun is what errors call a key ("entry" when the
// keys came from ParseKeys).
func newKeys(noun string, keys [][]byte) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("cookie keys: no key given")
	}
	k := &Keys{keys: make([]key, len(keys))}
	for i, b := range keys {
		if len(b) != KeySize {
			return nil, fmt.Errorf("cookie keys: %s %d: %d bytes, want %d", noun, i+1, len(b), KeySize)
		}
		copy(k.keys[i].raw[:], b)
		k.keys[i].id = kid(b)
		for j := range i {
			// Distinct keys with equal ids would make Open pick the wrong one;
			// with 64-bit ids that only happens for the same key.
			if k.keys[j].id == k.keys[i].id {
				return nil, fmt.Errorf("cookie keys: %s %d: duplicate of %s %d", noun, i+1, noun, j+1)
			}
		}
	}
	k.open = newOpener(k.keys)
	return k, nil
}

// kid is base64url of the first 8 bytes of SHA-256(kidLabel || key): short,
// stable, and useless for recovering the key.
func kid(raw []byte) string {
	h := sha256.New()
	h.Write([]byte(kidLabel))
	h.Write(raw)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:8])
}

// GenerateKey reads 32 bytes from rand and returns them as base64url without
// padding, ready for BFF_COOKIE_KEYS (used by `bff keygen`).
func GenerateKey(rand io.Reader) (string, error) {
	var b [KeySize]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return "", fmt.Errorf("cookie keys: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Len is the number of keys in the ring.
func (k *Keys) Len() int {
	if k == nil {
		return 0
	}
	return len(k.keys)
}

// IDs returns the key ids, sealing key first. They are safe to log.
func (k *Keys) IDs() []string {
	if k == nil {
		return nil
	}
	ids := make([]string, len(k.keys))
	for i := range k.keys {
		ids[i] = k.keys[i].id
	}
	return ids
}

// Format prints only the ids, whatever the verb, so that logging a config
// struct that holds a *Keys cannot leak a key.
func (k *Keys) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "cookie.Keys%v", k.IDs())
}
