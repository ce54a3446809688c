package oidc

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// The session is stored in a cookie that every request carries, so its
// encoding is compact on purpose: a JWT is kept as its three decoded
// segments (JSON that DEFLATE shrinks well, and a raw signature) instead of
// base64 text that sealing would base64 again.

const encodingVersion = 1

const (
	tokenRaw = 0 // any opaque string
	tokenJWT = 1 // three base64url segments, stored decoded
)

var errCorrupt = errors.New("corrupt session encoding")

var strictB64 = base64.RawURLEncoding.Strict()

// MarshalBinary encodes s compactly; see UnmarshalBinary.
func (s *Session) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 64+len(s.AccessToken)+len(s.RefreshToken)+len(s.IDToken)+len(s.Extra))
	b = append(b, encodingVersion)
	b = binary.AppendVarint(b, s.Created.Unix())
	b = binary.AppendVarint(b, s.LastSeen.Unix())
	b = binary.AppendVarint(b, s.AccessExpiry.Unix())
	b = appendBytes(b, []byte(s.ID))
	b = appendBytes(b, []byte(s.Subject))
	b = appendToken(b, s.AccessToken)
	b = appendToken(b, s.RefreshToken)
	b = appendToken(b, s.IDToken)
	b = appendBytes(b, s.Extra)
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. It runs only on
// plaintext that authenticated decryption already vouched for, yet it
// still checks every length so that a bug elsewhere cannot become a panic.
func (s *Session) UnmarshalBinary(data []byte) error {
	d := decoder{buf: data}
	if d.byte() != encodingVersion {
		return errCorrupt
	}
	created, lastSeen, expiry := d.varint(), d.varint(), d.varint()
	out := Session{
		ID:           string(d.bytes()),
		Subject:      string(d.bytes()),
		AccessToken:  d.token(),
		RefreshToken: d.token(),
		IDToken:      d.token(),
		Extra:        d.bytes(),
		Created:      time.Unix(created, 0).UTC(),
		LastSeen:     time.Unix(lastSeen, 0).UTC(),
		AccessExpiry: time.Unix(expiry, 0).UTC(),
	}
	if d.err != nil || len(d.buf) != 0 {
		return errCorrupt
	}
	if len(out.Extra) == 0 {
		out.Extra = nil
	}
	*s = out
	return nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendToken(b []byte, tok string) []byte {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return appendBytes(append(b, tokenRaw), []byte(tok))
	}
	decoded := make([][]byte, 3)
	for i, p := range parts {
		raw, err := strictB64.DecodeString(p)
		if err != nil || p == "" {
			return appendBytes(append(b, tokenRaw), []byte(tok))
		}
		decoded[i] = raw
	}
	b = append(b, tokenJWT)
	for _, raw := range decoded {
		b = appendBytes(b, raw)
	}
	return b
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail() { d.err, d.buf = errCorrupt, nil }

func (d *decoder) byte() byte {
	if len(d.buf) == 0 {
		d.fail()
		return 0
	}
	c := d.buf[0]
	d.buf = d.buf[1:]
	return c
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n, k := binary.Uvarint(d.buf)
	if k <= 0 || n > uint64(len(d.buf)-k) {
		d.fail()
		return nil
	}
	v := d.buf[k : k+int(n)]
	d.buf = d.buf[k+int(n):]
	return v
}

func (d *decoder) token() string {
	switch d.byte() {
	case tokenRaw:
		return string(d.bytes())
	case tokenJWT:
		var segs [3][]byte
		n := 2 // the dots
		for i := range segs {
			segs[i] = d.bytes()
			if len(segs[i]) == 0 {
				d.fail() // an empty segment is never encoded as a JWT
				return ""
			}
			n += base64.RawURLEncoding.EncodedLen(len(segs[i]))
		}
		b := make([]byte, 0, n)
		for i, seg := range segs {
			if i > 0 {
				b = append(b, '.')
			}
			b = base64.RawURLEncoding.AppendEncode(b, seg)
		}
		return string(b)
	default:
		d.fail()
		return ""
	}
}

// jwtPayload returns the decoded middle segment of a compact JWT, without
// verifying it: callers use it only on tokens verified before sealing.
func jwtPayload(tok string) ([]byte, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact jwt")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}
