package telemetry

import "net/http"

// roundTripFunc is a function as an http.RoundTripper, for the transports
// that measure and trace outbound calls.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
