package bfftest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// NewClient returns a client that behaves like a browser tab for bff's
// purposes: it keeps cookies and does not follow redirects, so a test sees
// each one.
func NewClient(t testing.TB) (*http.Client, http.CookieJar) {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 256}
	t.Cleanup(transport.CloseIdleConnections)
	return &http.Client{
		Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     transport,
	}, jar
}

// Response is a finished exchange with its body read, for assertions and
// leak scans.
type Response struct {
	*http.Response
	Text string
}

// Get requests target (a URL, or a path on base) with c; headers are
// name, value pairs.
func Get(t testing.TB, c *http.Client, base, target string, headers ...string) Response {
	t.Helper()
	return Do(t, c, http.MethodGet, base, target, nil, headers...)
}

// Do sends one request with c and reads the whole answer.
func Do(t testing.TB, c *http.Client, method, base, target string, body io.Reader, headers ...string) Response {
	t.Helper()
	r, err := Send(c, method, base, target, body, headers...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Send is [Do] for a goroutine other than the test's, which must not
// stop the test: it returns the error instead.
func Send(c *http.Client, method, base, target string, body io.Reader, headers ...string) (Response, error) {
	if strings.HasPrefix(target, "/") {
		target = base + target
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return Response{}, err
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, err
	}
	return Response{Response: resp, Text: string(b)}, nil
}

// Burst sends n GET requests for target at once with c, as a page firing
// its calls in parallel does, and returns every answer in the order sent.
// Each carries exactly the headers given when c has no cookie jar.
func Burst(t testing.TB, c *http.Client, n int, base, target string, headers ...string) []Response {
	t.Helper()
	out := make([]Response, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i], errs[i] = Send(c, http.MethodGet, base, target, nil, headers...) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}

// SetCookieNames are the names of the cookies a response sets or expires.
func SetCookieNames(r Response) []string {
	var names []string
	for _, c := range r.Cookies() {
		names = append(names, c.Name)
	}
	return names
}

// Dump is everything a browser received in r: the status, every header
// line, each also percent-decoded (where a token in a URL would hide), and
// the body. Tests scan it for what must never leave bff.
func (r Response) Dump() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d\n", r.StatusCode)
	for k, vs := range r.Header {
		for _, v := range vs {
			fmt.Fprintf(&sb, "%s: %s\n", k, v)
			if dec, err := url.QueryUnescape(v); err == nil {
				sb.WriteString(dec + "\n")
			}
		}
	}
	sb.WriteString(r.Text)
	return sb.String()
}

// LogIn signs the browser c in at bff's origin through op's form, as a
// person would: /auth/login, the OP, and the callback, whose URL (with the
// code and state) it returns.
func LogIn(t testing.TB, c *http.Client, op *OP, origin string) *url.URL {
	t.Helper()
	start := Get(t, c, origin, "/auth/login?returnTo=/")
	if start.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", start.StatusCode, start.Text)
	}
	cb := op.Login(t, c, start.Header.Get("Location"))
	if done := Get(t, c, origin, cb.String()); done.StatusCode != http.StatusFound {
		t.Fatalf("callback: %d %s", done.StatusCode, done.Text)
	}
	return cb
}
