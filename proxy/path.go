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

// cleanPath reports whether p is absolute and every segment is a plain
// name: no empty segment (a trailing slash aside), no "." or "..", and no
// control characters. It looks at the decoded path, so percent-encoded dots,
// slashes and semicolons count; a backslash is a separator too. A segment
// is judged without its path parameters (";jsessionid=..."), because
// servlet containers (Tomcat, Jetty, Spring) drop them before resolving dot
// segments: "..;", ".;x" and "..%3b" are ".." and "." to them.
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
		seg := p[start:i]
		if name, _, params := strings.Cut(seg, ";"); params {
			if name == "" || name == "." || name == ".." {
				return false
			}
		}
		switch seg {
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
