package idp

import (
	"crypto/rand"
	"net/http"
	"slices"
	"time"
)

// The OP remembers a browser that signed in, as every real IdP does, so
// that the next sign-in of that browser needs no form (single sign-on), a
// silent one (prompt=none) can succeed, and an application can tell "not
// signed in here" from "not signed in anywhere".

// ssoCookie names the browser's session at the OP.
const ssoCookie = "idp_session"

// ssoLifetime bounds a browser session at the OP.
const ssoLifetime = 12 * time.Hour

type ssoSession struct {
	subject  string
	authTime time.Time
	sid      string // the session's public id: the ID tokens' sid claim
}

// startSession opens a session for subject and returns its cookie value.
func (s *storage) startSession(subject string, now time.Time) string {
	id := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.sessions {
		if now.Sub(v.authTime) > ssoLifetime {
			delete(s.sessions, k)
		}
	}
	s.sessions[id] = &ssoSession{subject: subject, authTime: now, sid: rand.Text()}
	return id
}

// session returns the browser session the cookie value names, if it is
// still open.
func (s *storage) session(id string, now time.Time) (ssoSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.sessions[id]
	if !ok || now.Sub(v.authTime) > ssoLifetime {
		return ssoSession{}, false
	}
	return *v, true
}

// endSessions ends every browser session of subject. The caller holds
// s.mu.
func (s *storage) endSessions(subject string) {
	for k, v := range s.sessions {
		if v.subject == subject {
			delete(s.sessions, k)
		}
	}
}

// reusable reports whether a browser session may answer the auth request
// without the form: not when the client asked to see the form again
// (prompt=login), or when the sign-in is older than max_age allows.
func (a *authRequest) reusable(sess ssoSession, now time.Time) bool {
	if slices.Contains(a.prompt, "login") || slices.Contains(a.prompt, "select_account") {
		return false
	}
	if a.maxAge != nil && now.Sub(sess.authTime) > time.Duration(*a.maxAge)*time.Second {
		return false
	}
	return true
}

// silent reports whether the client asked for no user interface at all.
func (a *authRequest) silent() bool { return slices.Contains(a.prompt, "none") }

// setSessionCookie gives the browser its session at the OP. It is Secure
// whenever the issuer is https.
func (l *loginForm) setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: ssoCookie, Value: id, Path: l.cookiePath, HttpOnly: true, Secure: l.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(ssoLifetime / time.Second),
	})
}
