package idptest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// maxHops bounds each run of redirects Login follows. The real flow needs
// one before the form and one after it.
const maxHops = 5

var (
	formAction  = regexp.MustCompile(`<form[^>]*\saction="([^"]*)"`)
	formRequest = regexp.MustCompile(`<input[^>]*\sname="authRequestID"[^>]*\svalue="([^"]*)"`)
)

// Login signs in at the OP for the given authorize URL as a browser would: it GETs
// authorizeURL with client (which must not follow redirects itself: its CheckRedirect
// returns http.ErrUseLastResponse), follows the redirects to the login form, POSTs
// username and password, and returns the final redirect's Location (the relying party's
// redirect_uri with code and state). When client's cookies hold a session at the OP, the
// OP answers without the form, and so does Login. Any other outcome is an error.
//
// The relying party's redirect_uri itself is never requested: the caller
// decides what to do with the code. A wrong password is an error mentioning
// status 401.
func Login(ctx context.Context, client *http.Client, authorizeURL, username, password string) (callbackURL string, err error) {
	if client == nil || client.CheckRedirect == nil {
		return "", errors.New("login: the http client must not follow redirects (set CheckRedirect to return http.ErrUseLastResponse)")
	}
	start, err := url.Parse(authorizeURL)
	if err != nil {
		return "", fmt.Errorf("login: authorize url: %w", err)
	}

	// The OP answers /authorize with a redirect to its login form, or,
	// when the browser is signed in at the OP already, through its
	// callback straight back to the relying party.
	loc, err := redirectOf(ctx, client, http.MethodGet, start, nil)
	if err != nil {
		return "", fmt.Errorf("login: authorize: %w", err)
	}
	if cb, done, err := backAtClient(ctx, client, loc); done {
		return cb, err
	}
	page, pageURL, err := fetchPage(ctx, client, loc)
	if err != nil {
		return "", fmt.Errorf("login: login page: %w", err)
	}
	action, id, err := parseLoginForm(page, pageURL)
	if err != nil {
		return "", fmt.Errorf("login: login page: %w", err)
	}

	form := url.Values{"authRequestID": {id}, "username": {username}, "password": {password}}
	loc, err = redirectOf(ctx, client, http.MethodPost, action, form)
	if err != nil {
		return "", fmt.Errorf("login: submit credentials: %w", err)
	}
	if cb, done, err := backAtClient(ctx, client, loc); done {
		return cb, err
	}
	return "", fmt.Errorf("login: no code after %d redirects", maxHops)
}

// backAtClient follows the OP's redirects from loc until they reach the
// relying party with a code or an error (done), or a page of the OP's own
// (not done: the form).
func backAtClient(ctx context.Context, client *http.Client, loc *url.URL) (callbackURL string, done bool, err error) {
	for range maxHops {
		if loc.Query().Has("code") {
			return loc.String(), true, nil
		}
		if err := authorizationError(loc); err != nil {
			return "", true, err
		}
		resp, err := do(ctx, client, http.MethodGet, loc, nil)
		if err != nil {
			return "", true, fmt.Errorf("login: %w", err)
		}
		drain(resp)
		if !isRedirect(resp.StatusCode) {
			return "", false, nil
		}
		if loc, err = resp.Location(); err != nil {
			return "", true, fmt.Errorf("login: %w", err)
		}
	}
	return "", true, fmt.Errorf("login: no code after %d redirects", maxHops)
}

// authorizationError reports the OAuth error a redirect carries, if any.
func authorizationError(loc *url.URL) error {
	q := loc.Query()
	if !q.Has("error") {
		return nil
	}
	return fmt.Errorf("login: authorization failed: %s: %s", q.Get("error"), q.Get("error_description"))
}

// redirectOf sends one request and returns where the redirect it must
// answer with points, resolved against the request URL.
func redirectOf(ctx context.Context, client *http.Client, method string, u *url.URL, form url.Values) (*url.URL, error) {
	resp, err := do(ctx, client, method, u, form)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if !isRedirect(resp.StatusCode) {
		return nil, fmt.Errorf("%s %s: want a redirect, got %s: %s", method, u.Redacted(), resp.Status, snippet(resp))
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	return loc, nil
}

// fetchPage follows redirects from u to the first 200 and returns its body.
func fetchPage(ctx context.Context, client *http.Client, u *url.URL) (string, *url.URL, error) {
	for range maxHops {
		resp, err := do(ctx, client, http.MethodGet, u, nil)
		if err != nil {
			return "", nil, err
		}
		switch {
		case isRedirect(resp.StatusCode):
			next, err := resp.Location()
			drain(resp)
			if err != nil {
				return "", nil, err
			}
			u = next
		case resp.StatusCode == http.StatusOK:
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			drain(resp)
			if err != nil {
				return "", nil, fmt.Errorf("read %s: %w", u.Redacted(), err)
			}
			return string(body), u, nil
		default:
			defer drain(resp)
			return "", nil, fmt.Errorf("GET %s: %s: %s", u.Redacted(), resp.Status, snippet(resp))
		}
	}
	return "", nil, fmt.Errorf("more than %d redirects", maxHops)
}

// parseLoginForm finds where the form posts and which auth request it
// completes, the two things a browser would take from it.
func parseLoginForm(page string, pageURL *url.URL) (*url.URL, string, error) {
	a := formAction.FindStringSubmatch(page)
	i := formRequest.FindStringSubmatch(page)
	if a == nil || i == nil {
		return nil, "", errors.New("no login form on the page")
	}
	action, err := pageURL.Parse(html.UnescapeString(a[1]))
	if err != nil {
		return nil, "", fmt.Errorf("form action: %w", err)
	}
	return action, html.UnescapeString(i[1]), nil
}

func do(ctx context.Context, client *http.Client, method string, u *url.URL, form url.Values) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return client.Do(req)
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusMovedPermanently, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// snippet is the start of an unexpected response body, for error messages.
// A page's start is its head, which says nothing, so HTML is summarised.
func snippet(resp *http.Response) string {
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return "an html page"
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return strings.TrimSpace(string(b))
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}
