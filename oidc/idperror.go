package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// How bff reads a failed call to the token endpoint. Only 400 and 401 are
// the IdP saying no (RFC 6749 section 5.2: invalid_grant, invalid_client,
// ...); everything else — 408, 429, any other status, a timeout, no answer
// — is an outage, which ends no session. A rate-limited token endpoint
// must never log users out.

// refused reports whether err is the token endpoint answering 400 or 401.
func refused(err error) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return false
	}
	return re.Response.StatusCode == http.StatusBadRequest || re.Response.StatusCode == http.StatusUnauthorized
}

// exchangeFailureStatus is the status a browser gets for a failed code
// exchange: 400 when the IdP refused the code, 503 when it was out (any
// other error status, or no answer), and 502 when its answer was not a
// token response at all (a redirect, or a 200 that does not parse).
func exchangeFailureStatus(err error) int {
	var re *oauth2.RetrieveError
	var ue *url.Error
	switch {
	case refused(err):
		return http.StatusBadRequest
	case errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400:
		return http.StatusServiceUnavailable
	case errors.As(err, &ue), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadGateway
	}
}

// outage is a refresh that failed for want of a usable answer. It is
// [ErrUnavailable], and carries the IdP's Retry-After when it sent one.
type outage struct {
	retryAfter string // as the IdP sent it, checked; "" when none
	err        error
}

func (o *outage) Error() string        { return fmt.Sprintf("identity provider unavailable: %v", o.err) }
func (o *outage) Unwrap() error        { return o.err }
func (o *outage) Is(target error) bool { return target == ErrUnavailable }

// unavailable is err as the ErrUnavailable callers see, keeping the
// IdP's Retry-After.
func unavailable(err error) error {
	var o *outage
	if errors.As(err, &o) {
		return o
	}
	return &outage{err: err}
}

// retryAfter is the Retry-After of the IdP's error response, when it is
// one a browser can use: delay-seconds or an HTTP date, no longer than a
// day away.
func retryAfter(err error) string {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return ""
	}
	v := re.Response.Header.Get("Retry-After")
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 86400 && len(v) <= 5 {
		return v
	}
	if t, err := http.ParseTime(v); err == nil && time.Until(t) < 24*time.Hour {
		return t.UTC().Format(http.TimeFormat)
	}
	return ""
}

// redactRetrieveError keeps the IdP's error code and status but drops the
// response body, which could echo a token back into the log.
func redactRetrieveError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("token endpoint answered %d %s", status, safeErrorCode(re.ErrorCode))
	}
	return err
}
