package cookie

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxSealedLen is the longest sealed value Open will look at, checked before
// any parsing. Chunked enforces the same bound on a joined cookie.
const MaxSealedLen = 64 << 10

// MaxPlaintextLen is the longest plaintext Seal accepts. go-jose refuses to
// inflate more than 250 kB (unless the compressed form is over a tenth of
// that), so a longer plaintext might seal but never open.
const MaxPlaintextLen = 250_000

// purposeHeader is the private protected header that binds a sealed value to
// what it was sealed for. Being in the protected header, it is covered by the
// A256GCM tag.
const purposeHeader jose.HeaderKey = "bff"

// ErrInvalid is wrapped by every error Open returns. Callers should treat any
// such error as "no session".
var ErrInvalid = errors.New("cookie: invalid sealed value")

// ErrUnknownKey is the ErrInvalid of a value sealed under a key this ring
// does not hold (or with no kid): a rotation gone wrong, or another
// deployment's cookie.
var ErrUnknownKey = fmt.Errorf("%w: unknown or missing kid", ErrInvalid)

// ErrTampered is the ErrInvalid of a value whose authentication tag does
// not verify under the key its kid names.
var ErrTampered = fmt.Errorf("%w: authentication failed", ErrInvalid)

const zipHeader jose.HeaderKey = "zip"

var errTooLarge = errors.New("inflated plaintext over the limit")

// Seal encrypts plaintext with the first key of the ring into a JWE compact
// serialization (alg dir, enc A256GCM, zip DEF, kid of that key, and purpose
// in the protected "bff" header). A result longer than MaxSealedLen is an
// error, since Open would refuse it.
func (k *Keys) Seal(purpose string, plaintext []byte) (string, error) {
	if k.Len() == 0 {
		return "", errors.New("cookie: seal: no keys")
	}
	if purpose == "" {
		return "", errors.New("cookie: seal: empty purpose")
	}
	if len(plaintext) > MaxPlaintextLen {
		return "", fmt.Errorf("cookie: seal: plaintext is %d bytes, more than MaxPlaintextLen (%d)", len(plaintext), MaxPlaintextLen)
	}
	first := &k.keys[0]
	// zip is set by hand and the payload deflated here rather than with
	// go-jose's Compression option: the result is the same JWE, but go-jose
	// builds a new flate.Writer (~800 kB) per call, which made Seal ten times
	// slower. Open leaves inflation, and its size limit, to go-jose.
	opts := (&jose.EncrypterOptions{}).WithHeader(purposeHeader, purpose).WithHeader(zipHeader, jose.DEFLATE)
	enc, err := jose.NewEncrypter(jose.A256GCM,
		jose.Recipient{Algorithm: jose.DIRECT, Key: first.raw[:], KeyID: first.id}, opts)
	if err != nil {
		return "", fmt.Errorf("cookie: seal: %w", err)
	}
	obj, err := enc.Encrypt(k.deflate(plaintext))
	if err != nil {
		return "", fmt.Errorf("cookie: seal: %w", err)
	}
	s, err := obj.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("cookie: seal: %w", err)
	}
	if len(s) > MaxSealedLen {
		return "", fmt.Errorf("cookie: seal: sealed value is %d bytes, more than MaxSealedLen (%d)", len(s), MaxSealedLen)
	}
	return s, nil
}

// deflate is raw DEFLATE (RFC 1951), as JWE "zip":"DEF" means. Writers
// are reused: each is large to allocate.
func (k *Keys) deflate(p []byte) []byte {
	var buf bytes.Buffer
	w, _ := k.open.deflaters.Get().(*flate.Writer)
	if w == nil {
		w, _ = flate.NewWriter(nil, flate.DefaultCompression) // a valid level: no error
	}
	w.Reset(&buf)
	_, _ = w.Write(p) // a bytes.Buffer does not fail
	_ = w.Close()
	w.Reset(nil) // do not keep buf alive in the pool
	k.open.deflaters.Put(w)
	return buf.Bytes()
}

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalid, reason)
}

// checkCompact does what go-jose leaves to the caller. It requires five
// segments, the encrypted-key segment empty (dir has none, and go-jose
// ignores it, so extra bytes there would go unnoticed), and every segment
// canonical unpadded base64url: Go's decoder skips '\r' and '\n' and ignores
// a final character's unused bits, so without this check several strings
// would open to the same value. It returns "" when s passes.
func checkCompact(s string) string {
	if s == "" {
		return "empty"
	}
	seg, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			if b64urlValue(s[i]) < 0 {
				return "not base64url"
			}
			continue
		}
		if seg == 4 && i < len(s) {
			return "not five segments"
		}
		part := s[start:i]
		switch {
		case seg == 1 && part != "":
			return "encrypted key present with alg dir"
		case seg != 1 && seg != 3 && part == "":
			return "empty segment"
		case !canonicalTail(part):
			return "non-canonical base64url"
		}
		seg++
		start = i + 1
	}
	if seg != 5 {
		return "not five segments"
	}
	return ""
}

// canonicalTail reports whether an unpadded base64url string of valid
// characters has a possible length and zero unused bits in its last character.
func canonicalTail(p string) bool {
	switch len(p) % 4 {
	case 1:
		return false
	case 2:
		return b64urlValue(p[len(p)-1])&0x0f == 0
	case 3:
		return b64urlValue(p[len(p)-1])&0x03 == 0
	}
	return true
}

func b64urlValue(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '-':
		return 62
	case c == '_':
		return 63
	}
	return -1
}
