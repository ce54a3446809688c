package cookie

import (
	"bytes"
	"compress/flate"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"sync"
)

// Open runs on every request that carries a session, so it decodes the
// compact JWE itself instead of through go-jose: go-jose allocates a fresh
// 32 KiB inflate window per call and parses the header as generic JSON,
// which made opening three times slower than this. The format is the same
// one Seal writes with go-jose, and the tests check that go-jose and this
// code agree both ways.

// opener holds what Open and Seal reuse across calls: one AEAD per key,
// the headers already seen, and flate readers and writers.
type opener struct {
	aeads []cipher.AEAD

	mu      sync.RWMutex
	headers map[string]jweHeader // protected-header segment -> parsed; only ones that opened a value

	inflaters sync.Pool // of io.ReadCloser implementing flate.Resetter
	deflaters sync.Pool // of *flate.Writer
}

// maxCachedHeaders bounds the header cache. Genuine cookies use one header
// per key and purpose; the bound keeps crafted variants from growing it.
const maxCachedHeaders = 64

type jweHeader struct {
	Alg     string `json:"alg"`
	Enc     string `json:"enc"`
	Kid     string `json:"kid"`
	Zip     string `json:"zip"`
	Purpose string `json:"bff"`

	keyIndex int
}

func newOpener(keys []key) *opener {
	o := &opener{aeads: make([]cipher.AEAD, len(keys)), headers: map[string]jweHeader{}}
	for i := range keys {
		block, err := aes.NewCipher(keys[i].raw[:])
		if err != nil {
			panic("cookie: AES-256 rejected a 32-byte key: " + err.Error()) // cannot happen
		}
		o.aeads[i], err = cipher.NewGCM(block)
		if err != nil {
			panic("cookie: GCM: " + err.Error()) // cannot happen with AES
		}
	}
	return o
}

// header parses and checks the protected header: exactly the fields Seal
// writes, alg dir, enc A256GCM, zip DEF, and a kid in the ring. Anything
// else, "crit" included, is refused.
func (k *Keys) header(seg string) (jweHeader, error) {
	o := k.open
	o.mu.RLock()
	h, ok := o.headers[seg]
	o.mu.RUnlock()
	if ok {
		return h, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return h, invalid("bad header encoding")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil || dec.More() {
		return h, invalid("not a dir/A256GCM JWE")
	}
	if h.Alg != "dir" || h.Enc != "A256GCM" || h.Zip != "DEF" || h.Purpose == "" {
		return h, invalid("not a dir/A256GCM JWE")
	}
	h.keyIndex = -1
	for i := range k.keys {
		if k.keys[i].id == h.Kid {
			h.keyIndex = i
		}
	}
	if h.keyIndex < 0 {
		return h, ErrUnknownKey
	}
	return h, nil
}

// rememberHeader caches a header that has just opened a value: only a
// header the AEAD vouched for takes one of the few places, so crafted
// headers cannot fill them.
func (k *Keys) rememberHeader(seg string, h jweHeader) {
	o := k.open
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.headers[seg]; !ok && len(o.headers) < maxCachedHeaders {
		o.headers[strings.Clone(seg)] = h
	}
}

// Open decrypts a value made by Seal for the same purpose with any key of the
// ring. current reports whether it was sealed with the first key; when false
// the caller should reseal. Every error wraps ErrInvalid and contains neither
// the sealed value nor key material.
func (k *Keys) Open(purpose string, sealed string) (plaintext []byte, current bool, err error) {
	_, plaintext, current, err = k.OpenAny(sealed, purpose)
	return plaintext, current, err
}

// OpenAny is Open for a value that may have been sealed for any of
// purposes, and reports which.
func (k *Keys) OpenAny(sealed string, purposes ...string) (purpose string, plaintext []byte, current bool, err error) {
	plaintext, current, purpose, err = k.openFor(sealed, purposes)
	return purpose, plaintext, current, err
}

func (k *Keys) openFor(sealed string, purposes []string) (plaintext []byte, current bool, purpose string, err error) {
	if len(sealed) > MaxSealedLen {
		return nil, false, "", invalid("longer than MaxSealedLen")
	}
	if k.Len() == 0 {
		return nil, false, "", invalid("no keys")
	}
	if reason := checkCompact(sealed); reason != "" {
		return nil, false, "", invalid(reason)
	}
	// checkCompact vouched for five canonical segments, the second empty.
	hdrSeg, rest, _ := strings.Cut(sealed, ".")
	_, rest, _ = strings.Cut(rest, ".")
	ivSeg, rest, _ := strings.Cut(rest, ".")
	ctSeg, tagSeg, _ := strings.Cut(rest, ".")

	h, err := k.header(hdrSeg)
	if err != nil {
		return nil, false, "", err
	}
	if !slices.Contains(purposes, h.Purpose) {
		return nil, false, "", invalid("sealed for another purpose")
	}
	aead := k.open.aeads[h.keyIndex]
	enc := base64.RawURLEncoding
	if enc.DecodedLen(len(ivSeg)) != aead.NonceSize() || enc.DecodedLen(len(tagSeg)) != aead.Overhead() {
		return nil, false, "", invalid("bad iv or tag length")
	}
	var iv [12]byte
	if _, err := enc.Decode(iv[:], []byte(ivSeg)); err != nil {
		return nil, false, "", invalid("bad iv")
	}
	// Ciphertext and tag decode into one buffer, as AEAD.Open wants them,
	// and the plaintext overwrites it in place.
	buf := make([]byte, enc.DecodedLen(len(ctSeg))+aead.Overhead())
	n, err := enc.Decode(buf, []byte(ctSeg))
	if err != nil {
		return nil, false, "", invalid("bad ciphertext")
	}
	if _, err := enc.Decode(buf[n:], []byte(tagSeg)); err != nil {
		return nil, false, "", invalid("bad tag")
	}
	// The additional data is the header segment as sent (RFC 7516, 5.2).
	compressed, err := aead.Open(buf[:0], iv[:], buf, []byte(hdrSeg))
	if err != nil {
		return nil, false, "", ErrTampered
	}
	k.rememberHeader(hdrSeg, h)
	plaintext, err = k.inflate(compressed)
	if err != nil {
		return nil, false, "", invalid("cannot inflate")
	}
	return plaintext, h.keyIndex == 0, h.Purpose, nil
}

// inflate undoes DEFLATE with go-jose's limit: at most 250 kB, or ten times
// the compressed size if that is larger, so a small cookie cannot expand
// into a large allocation.
func (k *Keys) inflate(compressed []byte) ([]byte, error) {
	limit := max(int64(MaxPlaintextLen), 10*int64(len(compressed)))
	src := bytes.NewReader(compressed)
	r, _ := k.open.inflaters.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReader(src)
	} else if err := r.(flate.Resetter).Reset(src, nil); err != nil {
		return nil, err
	}
	defer k.open.inflaters.Put(r)
	var out bytes.Buffer
	out.Grow(4 * len(compressed))
	n, err := io.Copy(&out, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return out.Bytes(), nil
}
