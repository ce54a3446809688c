package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"bff/internal/endpoint"
	"bff/internal/policy"
	"bff/internal/problem"

	"golang.org/x/oauth2"
)

type sessionResponse struct {
	Sub       string         `json:"sub"`
	Claims    map[string]any `json:"claims"`
	ExpiresAt time.Time      `json:"expiresAt"`
	LogoutURL string         `json:"logoutUrl"`
}

func (a *Auth) sessionInfo(w http.ResponseWriter, r *http.Request) {
	if !policy.CheckCSRF(w, r) {
		return
	}
	s, current, err := a.loadOrReject(w, r)
	if err != nil {
		WriteError(w, err)
		return
	}
	a.touch(w, r, s, current)
	writeJSON(w, sessionResponse{
		Sub:       s.Subject,
		Claims:    s.claims(),
		ExpiresAt: s.expiresAt(a.cfg.SessionMaxAge, a.cfg.SessionIdle),
		LogoutURL: endpoint.Logout + "?sid=" + url.QueryEscape(s.ID),
	})
}

type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
}

func (a *Auth) token(w http.ResponseWriter, r *http.Request) {
	if !policy.CheckCSRF(w, r) {
		return
	}
	s, err := a.fresh(w, r)
	if err != nil {
		WriteError(w, err)
		return
	}
	writeJSON(w, tokenResponse{AccessToken: s.AccessToken, ExpiresAt: s.AccessExpiry})
}

// WriteError answers a failure of [Auth.AccessToken]: 401 for no session,
// 503 when the IdP is out, with the IdP's own Retry-After when it gave one.
func WriteError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrStoreUnavailable) {
		w.Header().Set("Retry-After", "5")
		problem.Write(w, http.StatusServiceUnavailable, "Session store unavailable", "The session is intact; try again shortly.")
		return
	}
	if errors.Is(err, ErrUnavailable) {
		wait := "5"
		var o *outage
		if errors.As(err, &o) && o.retryAfter != "" {
			wait = o.retryAfter
		}
		w.Header().Set("Retry-After", wait)
		problem.Write(w, http.StatusServiceUnavailable, "Identity provider unavailable", "The session is intact; try again shortly.")
		return
	}
	problem.Write(w, http.StatusUnauthorized, "Not signed in", "")
}

func (a *Auth) logout(w http.ResponseWriter, r *http.Request) {
	s, _, err := a.loadOrReject(w, r)
	if errors.Is(err, ErrUnavailable) {
		WriteError(w, err) // the cookie stays: the logout can be tried again
		return
	}
	if err != nil {
		// Nothing to end: send the browser where a finished logout would.
		http.Redirect(w, r, a.postLogoutURL(), http.StatusFound)
		return
	}
	// The sid keeps a cross-site link from logging the user out.
	if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("sid")), []byte(s.ID)) != 1 {
		problem.Write(w, http.StatusBadRequest, "Bad logout request", "The sid does not match this session.")
		return
	}
	if a.shared != nil {
		// Over everywhere, not only in this browser: a copy of the cookie
		// gets 401 on any replica from now on.
		if err := a.endSession(r.Context(), s); err != nil {
			a.storeUnavailable(w, err)
			return
		}
	}
	a.session.Expire(w, r)
	p := a.provider.Load()
	if p != nil && p.revocation != "" && s.RefreshToken != "" {
		outcome := "revoked"
		if err := a.revoke(r.Context(), p, s.RefreshToken); err != nil {
			outcome = "failed"
			if errors.Is(err, errRevocationRefused) {
				outcome = "refused"
			}
			a.log.Warn("logout: revoking refresh token failed", "err", err)
		}
		a.obs.Revocation(outcome)
	}
	a.log.Info("logout", "session", s)
	target := a.postLogoutURL()
	if p != nil && p.endSession != "" {
		if u, err := url.Parse(p.endSession); err == nil {
			q := u.Query()
			q.Set("client_id", a.cfg.ClientID)
			q.Set("id_token_hint", s.IDToken)
			q.Set("post_logout_redirect_uri", target)
			u.RawQuery = q.Encode()
			target = u.String()
		}
	}
	// Not http.Redirect: it would repeat the URL, id_token_hint and all, in
	// an HTML body.
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusFound)
}

// postLogoutURL is absolute, as IdPs require of post_logout_redirect_uri.
func (a *Auth) postLogoutURL() string {
	target := a.cfg.PostLogoutURL
	if target == "" {
		target = "/"
	}
	if strings.HasPrefix(target, "/") {
		return a.cfg.PublicURL.JoinPath(target).String()
	}
	return target
}

// revoke asks the IdP to forget the refresh token (RFC 7009), so a stolen
// copy of the cookie is worthless after logout. The client authenticates
// exactly as at the token endpoint.
func (a *Auth) revoke(ctx context.Context, p *provider, refreshToken string) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.IdPTimeout)
	defer cancel()
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}
	basic := p.oauth2.Endpoint.AuthStyle == oauth2.AuthStyleInHeader
	if !basic {
		form.Set("client_id", a.cfg.ClientID)
		form.Set("client_secret", a.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.revocation, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("revocation request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		// Encoded as at the token endpoint (RFC 6749 section 2.3.1).
		req.SetBasicAuth(url.QueryEscape(a.cfg.ClientID), url.QueryEscape(a.cfg.ClientSecret))
	}
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("revocation: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: revocation endpoint answered %d", errRevocationRefused, resp.StatusCode)
	}
	return nil
}

// errRevocationRefused is a revocation endpoint answering with an error.
var errRevocationRefused = errors.New("revocation refused")

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
