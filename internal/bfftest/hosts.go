package bfftest

import (
	"net/url"
	"strings"
)

// ResolvedHost is the host a Go client following loc from origin lands
// on; "" when Go cannot parse loc, so would not follow it.
func ResolvedHost(origin *url.URL, loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	abs := origin.ResolveReference(u)
	// Printing and reparsing catches a path that serializes as "//host".
	if again, err := url.Parse(abs.String()); err != nil || again.Host != abs.Host {
		return "<reparses elsewhere: " + abs.String() + ">"
	}
	return abs.Host
}

// BrowserHost approximates the WHATWG URL parser a browser reads a
// Location with: leading and trailing controls and spaces go, tabs and
// newlines anywhere go, a backslash is a slash; then a scheme or a leading
// "//" leaves the origin.
func BrowserHost(origin *url.URL, loc string) string {
	loc = strings.TrimFunc(loc, func(r rune) bool { return r <= 0x20 })
	loc = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, loc)
	if i := strings.IndexAny(loc, ":/?#"); i > 0 && loc[i] == ':' {
		return "<scheme " + loc[:i] + ">"
	}
	if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
		return "<elsewhere: " + loc + ">"
	}
	if host := ResolvedHost(origin, loc); host != "" {
		return host
	}
	return origin.Host // a path a browser keeps, bad escapes and all
}
