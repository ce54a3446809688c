package bfftest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// FunctionURL is a Lambda function URL's front end, as a client's
// transport: a request for Public's host becomes a function URL event
// (payload format 2.0) invoked on Lambda, and the invocation's result
// becomes the response. Requests for loopback hosts (the OP) go out as
// usual; any other host is refused, so nothing leaves the machine.
type FunctionURL struct {
	Lambda   *Lambda
	Public   *url.URL // https://<url-id>.lambda-url.<region>.on.aws
	SourceIP string   // the browser's address, as the front end saw it
	Buffered bool     // the function URL's InvokeMode is BUFFERED

	mu      sync.Mutex
	results []Result
	next    http.Transport
}

// Result is one invocation's result as the function returned it.
type Result struct {
	Method, Path string // of the request
	Status       int
	Headers      map[string]string
	Cookies      []string // the result's cookies: one Set-Cookie line each
	Body         []byte   // decoded
	Base64       bool     // a buffered result's isBase64Encoded
}

// Results returns every result so far, in order.
func (f *FunctionURL) Results() []Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Result(nil), f.results...)
}

// Last returns the latest result.
func (f *FunctionURL) Last() Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.results) == 0 {
		return Result{}
	}
	return f.results[len(f.results)-1]
}

// RoundTrip implements http.RoundTripper.
func (f *FunctionURL) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != f.Public.Host {
		if ip := net.ParseIP(req.URL.Hostname()); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("function URL test transport: %s is neither the function nor loopback", req.URL.Host)
		}
		return f.next.RoundTrip(req)
	}
	event, err := f.Event(req)
	if req.Body != nil {
		req.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	out, err := f.Lambda.Invoke(event)
	if err != nil {
		return nil, err
	}
	res, err := f.Decode(out)
	if err != nil {
		return nil, err
	}
	res.Method, res.Path = req.Method, req.URL.Path
	f.mu.Lock()
	f.results = append(f.results, res)
	f.mu.Unlock()

	h := http.Header{}
	for k, v := range res.Headers {
		h.Set(k, v)
	}
	for _, c := range res.Cookies {
		h.Add("Set-Cookie", c)
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", res.Status, http.StatusText(res.Status)), StatusCode: res.Status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(res.Body)), ContentLength: int64(len(res.Body)),
		Request: req,
	}, nil
}

// Event is the function URL event for req, as AWS writes one: lower-case
// header names, the cookies apart, the front end's own X-Forwarded-For,
// and a body base64-encoded unless it is text.
func (f *FunctionURL) Event(req *http.Request) ([]byte, error) {
	ev := events.LambdaFunctionURLRequest{
		Version:        "2.0",
		RawPath:        req.URL.EscapedPath(),
		RawQueryString: req.URL.RawQuery,
		Headers:        map[string]string{},
		RequestContext: events.LambdaFunctionURLRequestContext{
			AccountID: "123456789012", RequestID: fmt.Sprint(time.Now().UnixNano()),
			APIID: strings.Split(f.Public.Host, ".")[0], DomainName: f.Public.Host,
			DomainPrefix: strings.Split(f.Public.Host, ".")[0], TimeEpoch: time.Now().UnixMilli(),
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{
				Method: req.Method, Path: req.URL.Path, Protocol: "HTTP/1.1",
				SourceIP: f.SourceIP, UserAgent: req.UserAgent(),
			},
		},
	}
	for name, values := range req.Header {
		if name == "Cookie" {
			for _, v := range values {
				ev.Cookies = append(ev.Cookies, strings.Split(v, "; ")...)
			}
			continue
		}
		ev.Headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	ev.Headers["host"] = f.Public.Host
	ev.Headers["x-forwarded-proto"] = "https"
	ev.Headers["x-forwarded-port"] = "443"
	if xff := ev.Headers["x-forwarded-for"]; xff != "" {
		ev.Headers["x-forwarded-for"] = xff + ", " + f.SourceIP
	} else {
		ev.Headers["x-forwarded-for"] = f.SourceIP
	}
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); strings.HasPrefix(mt, "text/") || mt == "application/json" {
			ev.Body = string(body)
		} else if len(body) > 0 {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	return json.Marshal(ev)
}

// Decode reads an invocation's result: a response stream, or for a
// buffered function URL the JSON result.
func (f *FunctionURL) Decode(out []byte) (Result, error) {
	if f.Buffered {
		var r events.LambdaFunctionURLResponse
		if err := json.Unmarshal(out, &r); err != nil {
			return Result{}, fmt.Errorf("buffered result: %w: %.200q", err, out)
		}
		res := Result{Status: r.StatusCode, Headers: r.Headers, Cookies: r.Cookies, Body: []byte(r.Body), Base64: r.IsBase64Encoded}
		if r.IsBase64Encoded {
			var err error
			if res.Body, err = base64.StdEncoding.DecodeString(r.Body); err != nil {
				return Result{}, fmt.Errorf("buffered result: body: %w", err)
			}
		}
		return res, nil
	}
	prelude, body, ok := SplitStream(out)
	if !ok {
		return Result{}, fmt.Errorf("not a response stream: %.200q", out)
	}
	var p struct {
		StatusCode int               `json:"statusCode"`
		Headers    map[string]string `json:"headers"`
		Cookies    []string          `json:"cookies"`
	}
	if err := json.Unmarshal(prelude, &p); err != nil {
		return Result{}, fmt.Errorf("stream prelude: %w", err)
	}
	if p.StatusCode == 0 {
		return Result{}, errors.New("stream prelude without a status")
	}
	return Result{Status: p.StatusCode, Headers: p.Headers, Cookies: p.Cookies, Body: body}, nil
}
