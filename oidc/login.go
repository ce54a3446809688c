package oidc

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"bff/cookie"
	"bff/internal/policy"
	"bff/internal/problem"
)

// IsReservedAuthParam reports whether an authorization-request parameter is
// one bff sets itself, which extra parameters must not override: they carry
// the protocol's security (state, nonce, PKCE, redirect_uri).
func IsReservedAuthParam(name string) bool {
	switch name {
	case "response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
		"code_challenge", "code_challenge_method", "response_mode", "request", "request_uri":
		return true
	}
	return false
}

// loginTTL bounds how long a browser may sit on the IdP's login page.
const loginTTL = 10 * time.Minute

// maxLoginCookies caps parallel login attempts per browser, so repeated
// clicks cannot pile up cookies until the browser drops the session.
const maxLoginCookies = 4

// loginState is what the login-state cookie carries from /auth/login to
// /auth/callback.
type loginState struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	ReturnTo string    `json:"r"`
	Expires  time.Time `json:"e"`
	// Silent marks a prompt=none login: an IdP with no session for the
	// user answers it with an error, which is no failure but an answer.
	Silent bool `json:"q,omitempty"`
}

// loginCookie names the login-state cookie after its state, one cookie per
// attempt, so two tabs can log in at once.
func loginCookie(state string) cookie.Chunked {
	return cookie.Chunked{Name: loginCookiePrefix + state, SameSite: http.SameSiteLaxMode, MaxChunks: 1}
}

func (a *Auth) login(w http.ResponseWriter, r *http.Request) {
	returnTo := r.URL.Query().Get("returnTo")
	if returnTo == "" {
		returnTo = "/"
	}
	if !policy.IsLocalPath(returnTo) {
		problem.Write(w, http.StatusBadRequest, "Bad returnTo", "returnTo must be a local path such as /app.")
		return
	}
	params, err := loginParams(r.URL.Query())
	if err != nil {
		problem.Write(w, http.StatusBadRequest, "Bad login request", err.Error())
		return
	}
	p := a.provider.Load()
	if p == nil {
		a.notReady(w)
		return
	}
	st := loginState{
		State:    randomString(),
		Nonce:    randomString(),
		Verifier: oauth2.GenerateVerifier(),
		ReturnTo: returnTo,
		Expires:  a.now().Add(loginTTL),
		Silent:   params.Get("prompt") == "none",
	}
	plain, err := json.Marshal(st)
	if err == nil {
		var sealed string
		if sealed, err = a.cfg.Keys.Seal(purposeLogin, plain); err == nil {
			a.dropExcessLogins(w, r)
			err = loginCookie(st.State).Write(w, r, sealed, loginTTL)
		}
	}
	if err != nil {
		a.log.Error("login: sealing login state", "err", err)
		problem.Write(w, http.StatusInternalServerError, "Login unavailable", "")
		return
	}
	opts := []oauth2.AuthCodeOption{gooidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)}
	for name, values := range a.cfg.AuthParams {
		if !IsReservedAuthParam(name) && len(values) > 0 && !params.Has(name) {
			opts = append(opts, oauth2.SetAuthURLParam(name, values[0]))
		}
	}
	// The SPA's own choices (prompt, login_hint, ...) win over the
	// operator's defaults for the same parameters.
	for name := range params {
		opts = append(opts, oauth2.SetAuthURLParam(name, params.Get(name)))
	}
	target := p.oauth2.AuthCodeURL(st.State, opts...)
	a.obs.Login("started")
	http.Redirect(w, r, target, http.StatusFound)
}

func (a *Auth) dropExcessLogins(w http.ResponseWriter, r *http.Request) {
	var names []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, loginCookiePrefix) {
			names = append(names, c.Name)
		}
	}
	if len(names) < maxLoginCookies {
		return
	}
	// A header can hold thousands of names; answering each would make a
	// response too big for the proxies in front. The rest go next time.
	for _, name := range names[:min(len(names), maxLoginCookies+32)] {
		loginCookie(strings.TrimPrefix(name, loginCookiePrefix)).Expire(w, nil)
	}
}

// accessExpiry is the token's expiry as the IdP stated it. An IdP that
// states none gets a short assumed lifetime, so bff refreshes early rather
// than forwarding a dead token.
func accessExpiry(tok *oauth2.Token, now time.Time) time.Time {
	// expires_in is relative: count it from this process's clock, which
	// also judges expiry, rather than from the wall clock x/oauth2 used.
	if tok.ExpiresIn > 0 {
		return now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	if !tok.Expiry.IsZero() {
		return tok.Expiry
	}
	return now.Add(5 * time.Minute)
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// randomString is 128 bits from crypto/rand, base64url encoded.
func randomString() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// safeErrorCode passes an OAuth error code to the browser only when it looks
// like one (RFC 6749 limits the charset); anything else might be injected.
func safeErrorCode(code string) string {
	if len(code) > 64 || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "error"
	}
	return code
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func (a *Auth) notReady(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	problem.Write(w, http.StatusServiceUnavailable, "Not ready", "The identity provider has not been reached yet; try again shortly.")
}
