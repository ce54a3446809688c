//go:build js

package server

import (
	"context"
	"io"
	"net/http"
	"time"

	"bff/internal/jsctx"
)

// On js/wasm, net/http's Transport sends every request through the host's
// Fetch API as long as it has no dialer; that is the only network a
// Cloudflare Worker has.

// idpTransport is the transport of every call to the IdP.
func idpTransport() http.RoundTripper { return fetchTransport{fetch: &http.Transport{}} }

// upstreamTransport is the transport of every proxied call. Fetch has no
// response-header timeout of its own, so the request is cancelled when the
// headers take longer than headerTimeout (default 30 s, as on the binary's
// transport).
func upstreamTransport(headerTimeout time.Duration) http.RoundTripper {
	if headerTimeout <= 0 {
		headerTimeout = 30 * time.Second
	}
	return fetchTransport{fetch: &http.Transport{}, headerTimeout: headerTimeout}
}

// fetchTransport sends requests through the Fetch API with redirects left
// to the caller, as they are on every other platform. Fetch would follow
// them itself, although the IdP client refuses to follow any and the
// proxy must hand an upstream's redirect to the browser.
type fetchTransport struct {
	fetch         *http.Transport // no dialer: the Fetch API
	headerTimeout time.Duration   // 0: none
}

// jsFetchRedirect is the header net/http's js Transport reads, and
// removes, as the fetch "redirect" option.
const jsFetchRedirect = "js.fetch:redirect"

func (t fetchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// RoundTrip must not change the caller's request.
	req = req.Clone(req.Context())
	req.Header.Set(jsFetchRedirect, "manual")
	// Nothing blocks between here and the fetch call inside RoundTrip.
	jsctx.Enter(req.Context())
	if t.headerTimeout <= 0 {
		return t.fetch.RoundTrip(req)
	}
	ctx, cancel := context.WithCancel(req.Context())
	timer := time.AfterFunc(t.headerTimeout, cancel)
	resp, err := t.fetch.RoundTrip(req.WithContext(ctx))
	timer.Stop()
	if err != nil {
		cancel()
		return nil, err
	}
	// Cancelling aborts the fetch, body and all: only once the body is done.
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
