package funcurl

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// FuzzRequest feeds arbitrary invocation payloads to the event decoder. It
// must never panic, and a request it makes must be one a server could have
// read off the wire: a path target, header values without line breaks, a
// peer address, and a body as long as it says.
func FuzzRequest(f *testing.F) {
	f.Add(event(f))
	f.Add(event(f, set("isBase64Encoded", false), set("body", "plain")))
	f.Add(event(f, setHeader("x-forwarded-for", "10.0.0.1, 198.51.100.23")))
	f.Add(event(f, setHTTP("sourceIp", "::ffff:10.0.0.1")))
	for _, s := range []string{`{}`, `null`, `[]`, `{"rawPath":"/%zz"}`, `{"requestContext":{"http":{"method":"GET","sourceIp":"::1"}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := Request(context.Background(), payload)
		if err != nil {
			return
		}
		if !strings.HasPrefix(r.RequestURI, "/") || r.URL == nil || r.URL.Host != "" {
			t.Fatalf("target %q", r.RequestURI)
		}
		if !httpguts.ValidHeaderFieldName(r.Method) {
			t.Fatalf("method %q", r.Method)
		}
		for name, values := range r.Header {
			for _, v := range values {
				if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("header %q: %q", name, v)
				}
			}
		}
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err != nil || ap.Addr().Is4In6() || ap.Addr().Zone() != "" {
			t.Fatalf("peer %q", r.RemoteAddr)
		}
		b, err := io.ReadAll(r.Body)
		if err != nil || int64(len(b)) != r.ContentLength {
			t.Fatalf("body of %d bytes, ContentLength %d, %v", len(b), r.ContentLength, err)
		}
	})
}
