//go:build !js

package server

import (
	"net/http"
	"time"

	"bff/proxy"
)

// idpTransport is the transport of every call to the IdP.
func idpTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	// Enough idle connections for the refreshes one replica runs at once,
	// so a burst of them does not open (and TLS-handshake) a connection each.
	t.MaxIdleConnsPerHost = 64
	return t
}

// upstreamTransport is the transport of every proxied call.
func upstreamTransport(headerTimeout time.Duration) http.RoundTripper {
	t := proxy.NewTransport()
	if headerTimeout > 0 {
		t.ResponseHeaderTimeout = headerTimeout
	}
	return t
}
