package oidc

import (
	"context"
	"net/http"
)

// Observer is told what happens to logins, refreshes and sessions, for
// metrics, access logs and traces. Its methods must be cheap and safe for
// concurrent use; they never see a token.
type Observer interface {
	// Login reports "started", "completed", "failed" or "no_idp_session"
	// (a prompt=none sign-in that found no session at the IdP).
	Login(outcome string)
	// Refresh reports "refreshed", "refused" (the IdP said no),
	// "unavailable" (no usable answer), or "kept" (failed, but the current
	// access token was still good and was used).
	Refresh(outcome string)
	// Revocation reports how revoking a refresh token at logout went:
	// "revoked", "refused" (the IdP answered with an error) or "failed"
	// (no answer).
	Revocation(outcome string)
	// SessionRejected reports why a session cookie was not accepted:
	// "expired", "bad_key", "tampered" or "malformed".
	SessionRejected(reason string)
	// SessionSealed reports the size of a session cookie value just sealed.
	SessionSealed(bytes int)
	// Subject reports the subject of the session a request carries.
	Subject(r *http.Request, subject string)
	// Span starts a span called name under ctx's, and returns the context
	// that carries it and the function that ends it with the kind of
	// failure ("" for none). The IdP calls made with that context hang
	// under it.
	Span(ctx context.Context, name string) (context.Context, func(failure string))
}

type nopObserver struct{}

func (nopObserver) Login(string)                  {}
func (nopObserver) Refresh(string)                {}
func (nopObserver) Revocation(string)             {}
func (nopObserver) SessionRejected(string)        {}
func (nopObserver) SessionSealed(int)             {}
func (nopObserver) Subject(*http.Request, string) {}

func (nopObserver) Span(ctx context.Context, _ string) (context.Context, func(string)) {
	return ctx, func(string) {}
}
