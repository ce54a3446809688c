// Package lambda runs bff as an AWS Lambda function under the Lambda
// Runtime Interface Emulator, the runtime API's reference implementation,
// and drives it with function URL events: the whole browser flow, events
// it must refuse, and the cold start.
package lambda

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"bff/internal/bfftest"
)

// public is the function URL the browser sees. Nothing resolves it: the
// test transport hands its requests to the emulator.
var public = &url.URL{Scheme: "https", Host: "f3xkq2lbd5ylwqs7.lambda-url.eu-west-1.on.aws"}

// sourceIP is the browser's address as the function URL's front end gives
// it in the event.
const sourceIP = "198.51.100.23"

// function is bff deployed as a function: the OP, the upstream API, and
// the function behind its URL.
type function struct {
	*bfftest.FunctionURL
	OP       *bfftest.OP
	Upstream *bfftest.Upstream
	Uploads  chan upload
	Env      map[string]string
	Client   *http.Client
	Jar      http.CookieJar
}

type options struct {
	Buffered  bool
	Discovery bool // BFF_DISCOVERY_FILE; otherwise bff fetches the document
	AccessTTL time.Duration
	Env       map[string]string
}

// upload is what the upstream received of a request body.
type upload struct {
	Body          []byte
	ContentLength int64
}

// blob is a body no text encoding survives: every byte value.
var blob = func() []byte {
	b := make([]byte, 512)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

// deploy starts the OP, the upstream and bff as a function of bin, with
// the environment an operator would give it.
func deploy(t testing.TB, bin string, o options) *function {
	t.Helper()
	f := &function{Uploads: make(chan upload, 8)}
	f.OP = bfftest.StartOP(t, public, bfftest.OPOptions{AccessTTL: o.AccessTTL})
	f.Upstream = bfftest.NewUpstream(t, http.HandlerFunc(f.api))
	f.Env = bfftest.Env(f.OP, public, bfftest.NewKey(t))
	f.Env["BFF_ROUTES"] = "/api/=" + f.Upstream.URL + "/v1"
	if o.Discovery {
		f.Env["BFF_DISCOVERY_FILE"] = f.OP.DiscoveryFile(t)
	}
	if o.Buffered {
		f.Env["BFF_LAMBDA_INVOKE_MODE"] = "BUFFERED"
	}
	for k, v := range o.Env {
		f.Env[k] = v
	}
	f.FunctionURL = &bfftest.FunctionURL{
		Lambda: bfftest.StartLambda(t, bin, f.Env), Public: public, SourceIP: sourceIP, Buffered: o.Buffered,
	}
	f.Client, f.Jar = f.FunctionURL.Client(t)
	return f
}

// api is the upstream: binary bodies both ways, an event stream, and the
// recording upstream's echo for everything else.
func (f *function) api(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/blob":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(blob)
	case "/v1/upload":
		b, _ := io.ReadAll(r.Body)
		f.Uploads <- upload{Body: b, ContentLength: r.ContentLength}
		w.WriteHeader(http.StatusNoContent)
	case "/v1/events":
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			http.NewResponseController(w).Flush()
		}
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"path":%q,"ok":"yes"}`, r.URL.Path)
	}
}

// get requests path on the function, with headers as name, value pairs.
func (f *function) get(t testing.TB, path string, headers ...string) bfftest.Response {
	t.Helper()
	return bfftest.Get(t, f.Client, public.String(), path, headers...)
}

// call requests path as the SPA's JavaScript does, with X-CSRF.
func (f *function) call(t testing.TB, path string) bfftest.Response {
	t.Helper()
	return f.get(t, path, "X-CSRF", "1")
}

// login signs the client in: bff's login redirect, the OP's form, bff's
// callback. It returns the two results of bff's and when the callback
// finished, by which time the OP had issued the access token.
func (f *function) login(t testing.TB) (start, done bfftest.Result, at time.Time) {
	t.Helper()
	r := f.get(t, "/auth/login?returnTo=/home")
	if r.StatusCode != http.StatusFound {
		t.Fatalf("login: %d %s", r.StatusCode, r.Text)
	}
	start = f.Last()
	cb := f.OP.Login(t, f.Client, r.Header.Get("Location"))
	if cb.Host != public.Host {
		t.Fatalf("the OP sent the browser to %s, not the function", cb.Redacted())
	}
	r = f.get(t, cb.RequestURI())
	if r.StatusCode != http.StatusFound || r.Header.Get("Location") != "/home" {
		t.Fatalf("callback: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.Text)
	}
	return start, f.Last(), time.Now()
}

// eachMode runs run in parallel for each invoke mode, streamed and
// buffered, with bff's binary.
func eachMode(t *testing.T, run func(t *testing.T, bin string, buffered bool)) {
	t.Parallel()
	bin := bfftest.Build(t)
	for _, mode := range []struct {
		name     string
		buffered bool
	}{{"RESPONSE_STREAM", false}, {"BUFFERED", true}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			run(t, bin, mode.buffered)
		})
	}
}
