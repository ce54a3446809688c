package bfftest

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var (
	styleBlock = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	codeBlock  = regexp.MustCompile(`<code>([a-z_]+)</code>`)
)

// CheckErrorPage reports what is wrong, if anything, with a failed
// sign-in's answer as a person sees it: an HTML page that runs no script
// and loads nothing, styled only by the one inline style its CSP names by
// hash, with a link to try again. It returns the error code the page
// shows.
func CheckErrorPage(h http.Header, body string) (code string, err error) {
	var errs []error
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		errs = append(errs, fmt.Errorf("Content-Type %q, want text/html", ct))
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		errs = append(errs, fmt.Errorf("CSP %q is not deny-all", csp))
	}
	if m := styleBlock.FindStringSubmatch(body); m != nil {
		sum := sha256.Sum256([]byte(m[1]))
		if hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, "style-src "+hash) {
			errs = append(errs, errors.New("the page's style is not the one its CSP allows"))
		}
	}
	lower := strings.ToLower(body)
	for _, bad := range []string{"<script", "javascript:", " on", "<img", "<link", "<iframe", "src="} {
		if strings.Contains(lower, bad) && (bad != " on" || regexp.MustCompile(` on[a-z]+=`).MatchString(lower)) {
			errs = append(errs, fmt.Errorf("the page contains %q", bad))
		}
	}
	if !strings.Contains(body, `<a href="/auth/login?returnTo=`) || !strings.Contains(body, "Try again") {
		errs = append(errs, errors.New("the page has no link to try again"))
	}
	if m := codeBlock.FindStringSubmatch(body); m != nil {
		code = m[1]
	} else {
		errs = append(errs, errors.New("the page names no error code"))
	}
	return code, errors.Join(errs...)
}

// CallbackCode is the error code a failed callback answered with: the
// error parameter of its redirect when BFF_ERROR_URL is set, else the code
// its page shows, which must pass [CheckErrorPage].
func CallbackCode(resp Response) (string, error) {
	if resp.StatusCode == http.StatusFound {
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			return "", fmt.Errorf("callback redirect: %w", err)
		}
		return loc.Query().Get("error"), nil
	}
	return CheckErrorPage(resp.Header, resp.Text)
}
