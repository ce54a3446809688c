package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"bff/cookie"
)

// ErrNoSession means the request carries no usable session: none at all, or
// one that fails to open, has expired, or was refused a refresh. Callers
// answer 401.
var ErrNoSession = errors.New("no valid session")

// ErrUnavailable means the session cannot be served now, but survives:
// the access token expired and the IdP could not be reached to refresh
// it, or the shared store could not be reached. Callers answer 503 and
// leave the cookie alone.
var ErrUnavailable = errors.New("identity provider unavailable")

// ErrStoreUnavailable is ErrUnavailable for the shared store (Redis).
var ErrStoreUnavailable = fmt.Errorf("%w: the shared store cannot be reached", ErrUnavailable)

// touchInterval bounds how often activity reseals the cookie to slide the
// idle timeout: once a minute is precise enough for an idle limit measured
// in minutes, and spares every other response a Set-Cookie.
const touchInterval = time.Minute

// load opens the session cookie. expired reports a session that opened but
// is over: past its limits, or ended early (logout elsewhere, the IdP's
// back-channel logout), a cookie that can be cleared without losing
// anything. current is false when an older key sealed it. Errors wrap
// ErrNoSession, or ErrUnavailable when the shared store could not answer.
func (a *Auth) load(r *http.Request) (s *Session, current, expired bool, err error) {
	sealed, err := a.session.Read(r)
	if errors.Is(err, cookie.ErrNoCookie) {
		return nil, false, false, fmt.Errorf("%w: %w", ErrNoSession, err)
	}
	if err != nil {
		a.obs.SessionRejected("malformed")
		return nil, false, false, fmt.Errorf("%w: %w", ErrNoSession, err)
	}
	s, current, err = a.open(r.Context(), sealed)
	switch {
	case errors.Is(err, ErrUnavailable):
		return nil, false, false, err
	case errors.Is(err, errSessionGone):
		a.obs.SessionRejected("ended")
		return nil, false, true, fmt.Errorf("%w: %w", ErrNoSession, err)
	case err != nil:
		return nil, false, false, fmt.Errorf("%w: %w", ErrNoSession, err)
	}
	if !a.now().Before(s.expiresAt(a.cfg.SessionMaxAge, a.cfg.SessionIdle)) {
		a.obs.SessionRejected("expired")
		return nil, false, true, fmt.Errorf("%w: session expired", ErrNoSession)
	}
	if a.shared != nil {
		ended, err := a.ended(r.Context(), s)
		if err != nil {
			return nil, false, false, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
		}
		if ended {
			a.obs.SessionRejected("ended")
			return nil, false, true, fmt.Errorf("%w: session ended", ErrNoSession)
		}
	}
	a.obs.Subject(r, s.Subject)
	return s, current, false, nil
}

// open opens a sealed session, from the cache when this replica has
// opened the same value before, or the session a sealed handle names.
func (a *Auth) open(ctx context.Context, sealed string) (*Session, bool, error) {
	if e, ok := a.opened.get(sealed); ok {
		if e.s.handle != nil {
			return a.openHandle(ctx, sealed, e.s.handle, e.current, &e)
		}
		return &e.s, e.current, nil
	}
	purpose, plain, current, err := a.cfg.Keys.OpenAny(sealed, purposeSession, purposeHandle)
	if err != nil {
		a.obs.SessionRejected(rejection(err))
		return nil, false, err
	}
	if purpose == purposeHandle {
		if a.shared == nil {
			return nil, false, errors.New("a session handle, but no shared store is configured")
		}
		h, err := parseHandle(plain)
		if err != nil {
			return nil, false, err
		}
		return a.openHandle(ctx, sealed, h, current, nil)
	}
	s := new(Session)
	if err := s.UnmarshalBinary(plain); err != nil {
		a.obs.SessionRejected("malformed")
		return nil, false, err
	}
	if a.shared != nil {
		a.setEndKeys(s)
	}
	a.opened.put(sealed, openedSession{s: *s, current: current})
	return s, current, nil
}

func rejection(err error) string {
	switch {
	case errors.Is(err, cookie.ErrUnknownKey):
		return "bad_key"
	case errors.Is(err, cookie.ErrTampered):
		return "tampered"
	default:
		return "malformed"
	}
}

// loadOrReject loads the session, expiring a dead one, and tells the caller
// whether to go on. It does not write the response.
func (a *Auth) loadOrReject(w http.ResponseWriter, r *http.Request) (*Session, bool, error) {
	s, current, expired, err := a.load(r)
	if expired {
		a.session.Expire(w, r)
	}
	if err != nil {
		a.log.Debug("no session", "reason", err)
		return nil, false, err
	}
	return s, current, nil
}

// touch slides the idle timeout, and moves a cookie sealed with an old key
// onto the current one, without resealing on every request.
func (a *Auth) touch(w http.ResponseWriter, r *http.Request, s *Session, current bool) {
	now := a.now()
	if current && now.Sub(s.LastSeen) < touchInterval {
		return
	}
	s.LastSeen = now
	if err := a.writeSession(w, r, s); err != nil {
		// The old cookie still works until its idle limit.
		a.log.Warn("resealing session failed", "err", err)
	}
}

// writeSession seals s into the session cookie, which lives exactly as
// long as the session's absolute limit. A session too large for the
// chunks allowed goes to the shared store, when there is one, and the
// cookie holds its handle; without a store it is an error wrapping
// cookie.ErrTooManyChunks.
func (a *Auth) writeSession(w http.ResponseWriter, r *http.Request, s *Session) error {
	plain, err := s.MarshalBinary()
	if err != nil {
		return err
	}
	maxAge := s.Created.Add(a.cfg.SessionMaxAge).Sub(a.now())
	if s.handle == nil && !(a.shared != nil && a.cfg.SessionStore == "redis") {
		sealed, err := a.cfg.Keys.Seal(purposeSession, plain)
		if err != nil {
			return fmt.Errorf("sealing session: %w", err)
		}
		err = a.session.Write(w, r, sealed, maxAge)
		switch {
		case err == nil:
			a.obs.SessionSealed(len(sealed))
			return nil
		case !errors.Is(err, cookie.ErrTooManyChunks) || a.shared == nil:
			return fmt.Errorf("writing session cookie: %w", err)
		}
	}
	sealed, err := a.storeHandle(r.Context(), s, plain, maxAge+time.Minute)
	if err != nil {
		return err
	}
	if err := a.session.Write(w, r, sealed, maxAge); err != nil {
		return fmt.Errorf("writing session handle: %w", err)
	}
	a.obs.SessionSealed(len(sealed))
	return nil
}

// SignedIn reports whether r carries a valid session (nil), and slides
// its idle timeout as any activity does. A dead cookie is expired on w.
// It never refreshes: a page needs a session, not a token. Errors are
// [ErrNoSession] or [ErrUnavailable]; see [WriteError].
func (a *Auth) SignedIn(w http.ResponseWriter, r *http.Request) error {
	s, current, err := a.loadOrReject(w, r)
	if err != nil {
		return err
	}
	a.touch(w, r, s, current)
	return nil
}
