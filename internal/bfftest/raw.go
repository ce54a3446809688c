package bfftest

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// AnswerBound is how long any request may take before it counts as a hang.
const AnswerBound = 15 * time.Second

// RawRequest is a request written byte for byte, so it can carry what
// net/http's client refuses to send: oversized or repeated headers,
// non-UTF-8 bytes, a Host of the sender's choosing.
type RawRequest struct {
	Method  string // GET when empty
	Target  string
	Headers []string // "Name: value" lines
	Host    string   // the public host when empty
	Body    string
}

// Wire is the request as sent, with host as its Host unless it names one.
func (q RawRequest) Wire(host string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", cmp.Or(q.Method, http.MethodGet), q.Target, cmp.Or(q.Host, host))
	for _, h := range q.Headers {
		b.WriteString(h + "\r\n")
	}
	if q.Body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(q.Body))
	}
	b.WriteString("Connection: close\r\n\r\n" + q.Body)
	return b.String()
}

// Send writes q to the first replica directly and reads one response
// within AnswerBound. A connection closed without an answer is an error:
// that is how a panicking handler looks from outside.
func (s *Stack) Send(q RawRequest) (Response, error) {
	s.T.Helper()
	return SendTo(s.T, s.Addr(), s.Public.Host, q)
}

// MustSend is Send for requests that must be answered.
func (s *Stack) MustSend(q RawRequest) Response {
	s.T.Helper()
	resp, err := s.Send(q)
	if err != nil {
		s.T.Fatalf("%s %.80q: %v", cmp.Or(q.Method, http.MethodGet), q.Target, err)
	}
	return resp
}

// SendTo writes q to addr, naming host unless q names its own, and reads
// one response within AnswerBound.
func SendTo(t testing.TB, addr, host string, q RawRequest) (Response, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(AnswerBound))
	// A write error is no verdict: a server refusing an oversized header
	// may stop reading and answer before the client has finished.
	_, _ = io.WriteString(conn, q.Wire(host))
	// The request is for the record only (resp.Request), when the target
	// parses at all.
	var req *http.Request
	if u, err := url.ParseRequestURI(q.Target); err == nil {
		req = &http.Request{Method: cmp.Or(q.Method, http.MethodGet), URL: u}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return Response{}, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("answer cut short: %w", err)
	}
	return Response{resp, string(b)}, nil
}
