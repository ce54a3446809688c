package proxy

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"bff/internal/endpoint"
)

// Route forwards requests under Prefix to Upstream.
type Route struct {
	Prefix   string   // starts and ends with "/", e.g. "/api/"
	Upstream *url.URL // absolute http or https URL, may have a path, e.g. http://orders:9000/v1
}

// ParseRoutes parses BFF_ROUTES: comma-separated PREFIX=UPSTREAM entries,
// with spaces around each entry ignored, for example
//
//	/api/=http://orders:9000/v1,/billing/=https://billing.internal
//
// An empty string means no routes. A prefix without a trailing slash gets
// one ("/api" becomes "/api/"). Every bad entry yields one error naming its
// 1-based position and quoting it (with any upstream credentials masked,
// since configuration errors end up in logs); the errors are joined with
// [errors.Join] so an operator sees them all at once.
//
// A prefix must start with '/', must not contain "..", "//", a "." segment,
// whitespace, control characters, or any character that needs
// percent-encoding in a path (such as '?', '#', '%', '{'), and must not
// shadow bff's own paths: "/", or any path [endpoint.Reserved] names. The upstream must be an absolute http or https URL without
// query, fragment or userinfo. Prefixes must be distinct.
func ParseRoutes(s string) ([]Route, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var (
		routes []Route
		errs   []error
		seen   = make(map[string]bool)
	)
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		rt, err := parseEntry(entry)
		if err == nil && seen[rt.Prefix] {
			err = fmt.Errorf("duplicate prefix %q", rt.Prefix)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %d %q: %w", i+1, redact(entry), err))
			continue
		}
		seen[rt.Prefix] = true
		routes = append(routes, rt)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return routes, nil
}

func parseEntry(entry string) (Route, error) {
	if entry == "" {
		return Route{}, errors.New("empty entry")
	}
	prefix, upstream, ok := strings.Cut(entry, "=")
	if !ok {
		return Route{}, errors.New("missing '=' between prefix and upstream")
	}
	prefix, err := normalizePrefix(prefix)
	if err != nil {
		return Route{}, err
	}
	// url.Parse drops an empty query or fragment ("http://x?" and
	// "http://x#"), so look at the text: either would be a sign of a
	// mistyped entry.
	if i := strings.IndexAny(upstream, "?#"); i >= 0 {
		if upstream[i] == '?' {
			return Route{}, errors.New("upstream must not have a query")
		}
		return Route{}, errors.New("upstream must not have a fragment")
	}
	u, err := url.Parse(upstream)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the *url.Error repeats the URL, which may hold a password
		}
		return Route{}, fmt.Errorf("upstream: %w", err)
	}
	if err := checkUpstream(u); err != nil {
		return Route{}, err
	}
	return Route{Prefix: prefix, Upstream: u}, nil
}

// normalizePrefix checks p and adds the trailing slash if it is missing.
// The rules make a prefix match a path exactly as the browser writes it.
func normalizePrefix(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", errors.New("prefix must start with '/'")
	}
	if !utf8.ValidString(p) {
		return "", errors.New("prefix is not valid UTF-8")
	}
	for _, r := range p {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", errors.New("prefix must not contain whitespace or control characters")
		}
	}
	for _, bad := range []string{"..", "//", "?", "#", "%"} {
		if strings.Contains(p, bad) {
			return "", fmt.Errorf("prefix must not contain %q", bad)
		}
	}
	// Request paths are matched in their escaped form as well as decoded
	// (see route.split), which only works if the prefix reads the same in
	// both.
	if esc := (&url.URL{Path: p}).EscapedPath(); esc != p {
		return "", fmt.Errorf("prefix has characters that need percent-encoding (%q)", esc)
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	// A "." segment never matches: requests with one are refused.
	if strings.Contains(p, "/./") {
		return "", errors.New(`prefix must not contain a "." segment`)
	}
	if p == "/" {
		return "", errors.New(`prefix "/" would shadow the single-page app and bff's own endpoints`)
	}
	if own, ok := endpoint.Reserved(p); ok {
		return "", fmt.Errorf("prefix would shadow bff's own %s", own)
	}
	return p, nil
}

// checkUpstream reports whether u may be an upstream. Credentials belong in
// the upstream's own configuration, not in a URL that gets logged; a query
// would be ambiguous next to the browser's.
func checkUpstream(u *url.URL) error {
	switch {
	case u == nil:
		return errors.New("upstream is missing")
	case u.Scheme != "http" && u.Scheme != "https", u.Opaque != "", u.Hostname() == "":
		return errors.New("upstream must be an absolute http or https URL")
	case u.User != nil:
		return errors.New("upstream must not contain userinfo")
	case u.RawQuery != "" || u.ForceQuery:
		return errors.New("upstream must not have a query")
	case u.Fragment != "":
		return errors.New("upstream must not have a fragment")
	}
	return nil
}

// redact returns entry for an error message with any userinfo in the
// upstream masked: the name may be a token and the password is a password.
func redact(entry string) string {
	prefix, upstream, ok := strings.Cut(entry, "=")
	if !ok || !strings.Contains(upstream, "@") {
		return entry
	}
	u, err := url.Parse(upstream)
	if err != nil {
		return prefix + "=(upstream withheld: it may contain credentials)"
	}
	if u.User != nil {
		u.User = url.User("xxxxx")
	}
	return prefix + "=" + u.String()
}
