package proxy

import (
	"net/url"
	"strings"
)

// split returns the request path after the prefix, decoded and escaped:
// both empty for the bare prefix, otherwise both starting with "/". It
// reports false when the escaped path does not start with the prefix, which
// means the client percent-encoded part of it ("/api%2Fv2/x" decodes to a
// path under "/api/v2/" that the client did not literally ask for).
func (rt *route) split(u *url.URL) (rest, rawRest string, ok bool) {
	raw := u.EscapedPath()
	if u.Path == rt.bare {
		return "", "", raw == rt.bare
	}
	if !strings.HasPrefix(raw, rt.prefix) {
		return "", "", false
	}
	return u.Path[len(rt.bare):], raw[len(rt.bare):], true
}

// cleanPath reports whether p is absolute and has no empty, "." or ".."
// segments (a trailing slash aside) and no control characters. It looks at
// the decoded path, so percent-encoded dots and slashes count, and treats a
// backslash as a separator too.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			if c < 0x20 || c == 0x7f {
				return false
			}
			if c != '/' && c != '\\' {
				continue
			}
		}
		switch p[start:i] {
		case ".", "..":
			return false
		case "":
			if i < len(p) {
				return false
			}
		}
		start = i + 1
	}
	return true
}
