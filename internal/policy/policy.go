// Package policy holds the request rules that more than one part of bff
// applies: the CSRF header, what an origin is, and which paths are safe to
// redirect a browser to. Each exists once, so the auth endpoints, the
// proxy, CORS and the configuration cannot drift apart.
package policy

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"bff/internal/problem"
)

// CSRFHeader is the header, with the value "1", that every request
// JavaScript makes to a session-bearing endpoint must carry. Header names
// are case-insensitive; this is the canonical form, which http.Header
// looks up without allocating ("X-CSRF" costs one allocation per lookup).
const CSRFHeader = "X-Csrf"

// CheckCSRF reports whether r carries "X-CSRF: 1" and, when it does not,
// answers 403. It is the CSRF defence for every endpoint JavaScript calls:
// a cross-site form or link cannot set a custom header, and a cross-site
// fetch that sets one needs a CORS preflight that bff grants only to the
// origins an operator listed.
func CheckCSRF(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get(CSRFHeader) == "1" {
		return true
	}
	problem.Write(w, http.StatusForbidden, "Missing X-CSRF header", "Send X-CSRF: 1 with this request.")
	return false
}

// Origin returns the origin of an absolute http or https URL as a browser
// writes it in an Origin header: scheme and host in lower case, the
// scheme's default port left out. raw may end in "/" but have no other
// path, and no user, query or fragment.
func Origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("not a URL")
	case (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "":
		return "", errors.New("must be an absolute http or https URL")
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return "", errors.New("must be an origin such as https://app.example.com, with no path, user, query or fragment")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	if scheme == "http" {
		host = strings.TrimSuffix(host, ":80")
	} else {
		host = strings.TrimSuffix(host, ":443")
	}
	return scheme + "://" + host, nil
}

// IsLocalPath reports whether s is safe to send a browser to after a login
// or logout: a path on this origin, never a URL that a browser would
// resolve elsewhere. It starts with exactly one "/" (not "//" or "/\"),
// holds no control character or backslash, is valid UTF-8 and at most
// 2048 bytes.
func IsLocalPath(s string) bool {
	if s == "" || s[0] != '/' || len(s) > 2048 {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	// Browsers strip tabs and newlines from URLs and treat backslashes as
	// slashes, so any of them could turn into "//host" after parsing.
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}
