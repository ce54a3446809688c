package cookie

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxLine is the most bytes of one "Set-Cookie: ..." header line, including
// the "Set-Cookie: " prefix and all attributes.
const MaxLine = 4096

// DefaultMaxChunks is the chunk limit of a Chunked whose MaxChunks is 0.
const DefaultMaxChunks = 10

const setCookiePrefix = "Set-Cookie: "

// maxExtraExpired bounds how many family cookies beyond MaxChunks one response
// expires (junk such as NAME.x or NAME.999).
const maxExtraExpired = 32

// ErrNoCookie means the request carries nothing of the cookie.
var ErrNoCookie = errors.New("cookie: not present")

// ErrTooManyChunks is wrapped by Write's error for a value that needs more
// chunks than MaxChunks.
var ErrTooManyChunks = errors.New("cookie: value needs too many chunks")

// ErrMalformed is wrapped by Read's errors for a cookie family that is present
// but not as Write leaves it.
var ErrMalformed = errors.New("cookie: malformed chunked cookie")

// Chunked reads and writes one logical cookie, split into chunks when too long for one.
type Chunked struct {
	Name      string        // e.g. "__Host-bff-session"
	SameSite  http.SameSite // Strict for the session, Lax for the login cookie; 0 means Lax
	MaxChunks int           // 0 means DefaultMaxChunks
}

// Owns reports whether cookieName belongs to this cookie's family: NAME or
// NAME.<anything>. Use it to strip the family from a Cookie header.
func (j Chunked) Owns(cookieName string) bool {
	rest, ok := strings.CutPrefix(cookieName, j.Name)
	return ok && (rest == "" || rest[0] == '.')
}

func (j Chunked) maxChunks() int {
	if j.MaxChunks <= 0 {
		return DefaultMaxChunks
	}
	return j.MaxChunks
}

func (j Chunked) chunkName(i int) string {
	return j.Name + "." + strconv.Itoa(i)
}

// cookie is one Set-Cookie with this cookie's attributes. maxAge < 0 expires.
func (j Chunked) cookie(name, value string, maxAge int) *http.Cookie {
	ss := j.SameSite
	if ss == 0 {
		ss = http.SameSiteLaxMode
	}
	return &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: ss, MaxAge: maxAge}
}

// Write sets value as this cookie's cookie: the single cookie NAME when its
// Set-Cookie line fits in MaxLine, else NAME.0, NAME.1, ... in as few chunks
// as the limit allows. Cookies of the family present in r that this write does
// not set are expired. value must consist of bytes valid in a cookie value,
// space and comma excluded (a JWE compact serialization always does).
func (j Chunked) Write(w http.ResponseWriter, r *http.Request, value string, maxAge time.Duration) error {
	if j.Name == "" || (&http.Cookie{Name: j.Name}).String() == "" {
		return fmt.Errorf("cookie: invalid cookie name %q", j.Name)
	}
	if len(value) > MaxSealedLen {
		return fmt.Errorf("cookie %s: value is %d bytes, more than Read accepts (%d)", j.Name, len(value), MaxSealedLen)
	}
	for i := 0; i < len(value); i++ {
		if !validValueByte(value[i]) {
			return fmt.Errorf("cookie %s: value has a byte not allowed in a cookie at offset %d", j.Name, i)
		}
	}
	secs := max(1, int(maxAge/time.Second))

	var set []*http.Cookie
	if c := j.cookie(j.Name, value, secs); len(setCookiePrefix)+len(c.String()) <= MaxLine {
		set = []*http.Cookie{c}
	} else {
		for rest := value; rest != ""; {
			i := len(set)
			if i == j.maxChunks() {
				return fmt.Errorf("%w: cookie %s: value of %d bytes needs more than %d chunks", ErrTooManyChunks, j.Name, len(value), j.maxChunks())
			}
			c := j.cookie(j.chunkName(i), "", secs)
			room := MaxLine - len(setCookiePrefix) - len(c.String())
			if room <= 0 {
				return fmt.Errorf("cookie %s: name too long for a chunk", j.Name)
			}
			n := min(room, len(rest))
			c.Value, rest = rest[:n], rest[n:]
			set = append(set, c)
		}
	}

	dropFamily(w.Header(), j)
	written := make([]string, len(set))
	for i, c := range set {
		http.SetCookie(w, c)
		written[i] = c.Name
	}
	j.expirePresent(w, r, written)
	return nil
}

// Expire expires NAME and every cookie of the family present in r (NAME alone
// when none is).
func (j Chunked) Expire(w http.ResponseWriter, r *http.Request) {
	dropFamily(w.Header(), j)
	if !j.expirePresent(w, r, nil) {
		http.SetCookie(w, j.cookie(j.Name, "", -1))
	}
}

// expirePresent expires each family cookie in r not named in keep, once per
// name, and reports whether it expired any. It stops after MaxChunks +
// maxExtraExpired names: a browser holds fewer cookies than that for one
// host, and a huge Cookie header then costs one pass, not a quadratic one.
func (j Chunked) expirePresent(w http.ResponseWriter, r *http.Request, keep []string) bool {
	if r == nil {
		return false
	}
	limit := j.maxChunks() + maxExtraExpired
	var expired []string
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, _, _ := strings.Cut(part, "=")
			name = strings.Trim(name, " \t")
			if !j.Owns(name) || slices.Contains(keep, name) || slices.Contains(expired, name) {
				continue
			}
			if c := j.cookie(name, "", -1); c.String() != "" { // skips invalid names
				http.SetCookie(w, c)
				expired = append(expired, name)
				if len(expired) == limit {
					return true
				}
			}
		}
	}
	return len(expired) > 0
}

// dropFamily removes Set-Cookie lines for this family already in h, so a
// second Write or an Expire in the same response never leaves two lines for
// one name.
func dropFamily(h http.Header, j Chunked) {
	lines := h["Set-Cookie"]
	kept := lines[:0]
	for _, l := range lines {
		name, _, _ := strings.Cut(l, "=")
		if !j.Owns(name) {
			kept = append(kept, l)
		}
	}
	if len(kept) == 0 {
		h.Del("Set-Cookie")
	} else {
		h["Set-Cookie"] = kept
	}
}

// validValueByte is net/http's cookie-value byte set less space and comma,
// which would make it quote the value.
func validValueByte(b byte) bool { return validValue[b] }

// validValue is validValueByte's set as a table: every request's session
// cookie, a few kilobytes, passes through it byte by byte, and one load
// per byte is cheaper than six comparisons.
var validValue = func() (t [256]bool) {
	for b := 0x21; b < 0x7f; b++ {
		t[b] = b != '"' && b != ';' && b != '\\' && b != ','
	}
	return t
}()
