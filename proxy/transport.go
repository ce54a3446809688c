package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// NewTransport returns the upstream transport, sized for a busy BFF: every
// SPA call becomes an upstream call, mostly to a handful of hosts, so the
// idle pool is large and mostly per host, and connections are reused rather
// than re-dialled and re-handshaken per request.
//
// Dial and TLS handshake give up after 5s. ResponseHeaderTimeout (30s)
// bounds an upstream that accepts a request and then hangs; it stops at the
// response headers, so a long server-sent event stream or download is not
// cut. Proxy settings come from the environment (HTTPS_PROXY, NO_PROXY), and
// HTTP/2 is used where an https upstream offers it.
func NewTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}

// NewBufferPool returns the pool of body copy buffers the proxy gives its
// ReverseProxy, for any other ReverseProxy that should be as frugal (the
// bare proxy bff's load tests measure it against).
func NewBufferPool() httputil.BufferPool { return &bufferPool{} }

// bufferPool recycles ReverseProxy's body copy buffers, which it would
// otherwise allocate at 32 KiB per response.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.pool.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }
