package funcurl

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/net/http/httpguts"
)

// Request turns a function URL event (payload format 2.0) into the request
// a listener would have handed bff for the same browser request: the
// target from rawPath and rawQueryString, the headers, the cookies array
// as one Cookie header, the body decoded with its length, and the event's
// sourceIp as RemoteAddr. An event that is not one, or that no HTTP server
// would have accepted, is an error, never a panic.
func Request(ctx context.Context, payload []byte) (*http.Request, error) {
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("not a function URL event: %w", err)
	}
	hd := ev.RequestContext.HTTP
	// A method is a token, as a header name is.
	if !httpguts.ValidHeaderFieldName(hd.Method) {
		return nil, errors.New("requestContext.http.method: not an HTTP method")
	}
	source, err := netip.ParseAddr(hd.SourceIP)
	if err != nil || source.Zone() != "" {
		return nil, errors.New("requestContext.http.sourceIp: not an IP address")
	}
	source = source.Unmap()
	target, err := requestTarget(ev.RawPath, ev.RawQueryString)
	if err != nil {
		return nil, err
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, errors.New("rawPath, rawQueryString: not a request target")
	}
	header, err := requestHeader(ev.Headers, ev.Cookies)
	if err != nil {
		return nil, err
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, errors.New("body: isBase64Encoded, but not base64")
		}
	}
	dropOwnHop(header, source)

	r := &http.Request{
		Method:     hd.Method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Body:       http.NoBody,
		Host:       header.Get("Host"),
		RemoteAddr: netip.AddrPortFrom(source, 0).String(),
		RequestURI: target,
	}
	header.Del("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	// The body's length is the one the browser sent, whatever the event's
	// headers say; a proxied request carries it upstream as Content-Length.
	header.Del("Content-Length")
	header.Del("Transfer-Encoding")
	if len(body) > 0 {
		r.Body = readCloser{bytes.NewReader(body)}
		r.ContentLength = int64(len(body))
		header.Set("Content-Length", strconv.Itoa(len(body)))
	}
	return r.WithContext(ctx), nil
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// requestTarget is the origin-form target of the request line. It holds
// no space or control byte: no request line could.
func requestTarget(rawPath, rawQuery string) (string, error) {
	if rawPath == "" {
		rawPath = "/"
	}
	if !strings.HasPrefix(rawPath, "/") {
		return "", errors.New("rawPath: must start with /")
	}
	target := rawPath
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	for i := 0; i < len(target); i++ {
		if c := target[i]; c <= ' ' || c == 0x7f {
			return "", errors.New("rawPath, rawQueryString: a space or control character")
		}
	}
	return target, nil
}

// requestHeader is the event's headers, which a function URL sends with
// lower-case names and repeated fields joined by commas, plus its cookies.
func requestHeader(in map[string]string, cookies []string) (http.Header, error) {
	h := make(http.Header, len(in)+1)
	for name, value := range in {
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, errors.New("headers: a name that is not a header name")
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, fmt.Errorf("headers: %s: a control character in the value", http.CanonicalHeaderKey(name))
		}
		h.Add(name, value)
	}
	if len(cookies) == 0 {
		return h, nil
	}
	for _, c := range cookies {
		if !httpguts.ValidHeaderFieldValue(c) {
			return nil, errors.New("cookies: a control character in a cookie")
		}
	}
	all := strings.Join(cookies, "; ")
	if prior := h.Get("Cookie"); prior != "" {
		all = prior + "; " + all
	}
	h.Set("Cookie", all)
	return h, nil
}

// dropOwnHop removes what the function URL's front end appended to
// X-Forwarded-For: the address it received the request from, which is
// sourceIp. What is left is what a listener would have seen, with the peer
// in RemoteAddr alone, so bff's trusted-proxy rules read both the same way
// in both places.
func dropOwnHop(h http.Header, source netip.Addr) {
	values := h.Values("X-Forwarded-For")
	if len(values) == 0 {
		return
	}
	last := values[len(values)-1]
	rest, entry := "", last
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		rest, entry = strings.TrimRight(last[:i], " \t"), last[i+1:]
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(entry)); err != nil || a.Unmap() != source {
		return
	}
	values = values[:len(values)-1]
	if rest != "" {
		values = append(values, rest)
	}
	h.Del("X-Forwarded-For")
	for _, v := range values {
		h.Add("X-Forwarded-For", v)
	}
}
