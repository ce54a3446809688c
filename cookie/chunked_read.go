package cookie

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Read returns the cookie's value from r: the single cookie NAME, or the chunks
// NAME.0 ... NAME.n-1 joined in index order. It returns ErrNoCookie when r
// has none of the family, and an error wrapping ErrMalformed when the family
// is present but not as Write leaves it: a name twice, NAME beside chunks,
// indices other than exactly 0..n-1 in canonical decimal, more than MaxChunks
// chunks, an empty chunk, a byte Write never writes, or more than
// MaxSealedLen bytes in all. Other cookies are ignored, without allocating,
// and scanning stops at the first refusal, so a header of thousands of
// cookies costs one pass.
func (j Chunked) Read(r *http.Request) (string, error) {
	if j.Name == "" {
		return "", errors.New("cookie: Chunked has no Name")
	}
	maxN := j.maxChunks()
	var (
		single     string
		haveSingle bool
		chunks     []string // by index; "" means not seen (empty chunks are refused)
		count      int      // chunk-like cookies seen, valid or not
		highest    = -1
		total      int
	)
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			name, val, _ := strings.Cut(strings.Trim(part, " \t"), "=")
			rest, ok := strings.CutPrefix(strings.Trim(name, " \t"), j.Name)
			if !ok || rest != "" && rest[0] != '.' {
				continue // not of this family
			}
			if rest == "" {
				if haveSingle {
					return "", j.malformed("duplicate cookie")
				}
				haveSingle, single = true, val
			} else {
				if count++; count > maxN {
					return "", j.malformed(fmt.Sprintf("more than %d chunks", maxN))
				}
				idx, ok := parseIndex(rest[1:], maxN)
				switch {
				case !ok:
					return "", j.malformed("bad chunk index")
				case val == "":
					return "", j.malformed("empty chunk")
				case chunks == nil:
					chunks = make([]string, maxN)
				case chunks[idx] != "":
					return "", j.malformed("duplicate chunk")
				}
				chunks[idx] = val
				highest = max(highest, idx)
			}
			if haveSingle && count > 0 {
				return "", j.malformed("both a single cookie and chunks")
			}
			if total += len(val); total > MaxSealedLen {
				return "", j.malformed("longer than MaxSealedLen")
			}
			for i := 0; i < len(val); i++ {
				if !validValueByte(val[i]) {
					return "", j.malformed("invalid byte in value")
				}
			}
		}
	}
	switch {
	case haveSingle:
		return single, nil
	case count == 0:
		return "", ErrNoCookie
	case highest != count-1:
		// count distinct indices below count+1 are 0..count-1 exactly when
		// the highest is count-1.
		return "", j.malformed("missing chunk")
	}
	return strings.Join(chunks[:count], ""), nil
}

func (j Chunked) malformed(reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, j.Name, reason)
}

// parseIndex parses a canonical decimal index below n: digits only, no sign,
// no leading zero (but "0" itself).
func parseIndex(s string, n int) (int, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v = v*10 + int(c-'0'); v >= n {
			return 0, false
		}
	}
	return v, true
}
