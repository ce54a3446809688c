package idp

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// loginPath is where the login form lives, relative to the issuer.
const loginPath = "/login"

// loginCSS is the form's only styling. It is inline, and allowed by its hash
// in the Content-Security-Policy, so the page needs no second request and
// runs no script at all.
const loginCSS = `body{font:16px/1.5 system-ui,sans-serif;background:#f4f5f7;color:#1d2330;display:grid;place-items:center;min-height:100vh;margin:0}` +
	`main{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.12);width:min(20rem,90vw)}` +
	`h1{font-size:1.25rem;margin:0 0 1rem}` +
	`label{display:block;margin:.75rem 0 .25rem;font-size:.875rem}` +
	`input{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #c4c9d4;border-radius:4px;font:inherit}` +
	`button{margin-top:1.25rem;width:100%;padding:.6rem;border:0;border-radius:4px;background:#2557d6;color:#fff;font:inherit;cursor:pointer}` +
	`button.secondary{margin-top:.5rem;background:#e8ebf2;color:#1d2330}` +
	`.error{color:#b3261e}.hint{color:#5b6475;font-size:.875rem;text-align:center}`

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in</title>
<style>{{.CSS}}</style>
</head>
<body>
<main>
<h1>{{if .ID}}Sign in{{else}}Sign-in unavailable{{end}}</h1>
{{- if .Error}}
<p class="error" role="alert">{{.Error}}</p>
{{- end}}
{{- if .ID}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="authRequestID" value="{{.ID}}">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" value="{{.Username}}" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
<button type="submit" name="cancel" value="1" formnovalidate class="secondary">Cancel</button>
</form>
{{- if .Hint}}
<p class="hint">demo / demo</p>
{{- end}}
{{- end}}
</main>
</body>
</html>
`))

// loginView is what loginPage shows. An empty ID shows only the error: there
// is no login request the form could complete.
type loginView struct {
	CSS      template.CSS
	Action   string
	ID       string
	Username string
	Error    string
	Hint     bool
}

// loginForm is the interactive half of authorization that op leaves to the
// application: op redirects the browser here with an auth request id, and
// once the password checks out, the form sends it back to op's callback.
type loginForm struct {
	store       *storage
	issuer      string
	action      string // absolute URL the form posts to
	callback    func(context.Context, string) string
	hint        bool
	csp         string
	cookiePath  string // the issuer's path: the session cookie is the OP's alone
	secure      bool
	backchannel *backchannel
	log         *slog.Logger
}

func newLoginForm(s settings, store *storage, callback func(context.Context, string) string, bc *backchannel) *loginForm {
	sum := sha256.Sum256([]byte(loginCSS))
	return &loginForm{
		store:    store,
		issuer:   s.issuer,
		action:   s.issuer + loginPath,
		callback: callback,
		hint:     s.demoUsers,
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
			"frame-ancestors 'none'; base-uri 'none'",
		cookiePath:  cookiePath(s.issuer),
		secure:      strings.HasPrefix(s.issuer, "https:"),
		backchannel: bc,
		log:         s.log,
	}
}

func cookiePath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Path == "" {
		return "/"
	}
	return u.Path
}

const (
	msgUnknownRequest = "This sign-in request is unknown or has expired. Go back to the application and start again."
	msgBadCredentials = "Invalid username or password."
)

// show answers GET /login?authRequestID=...: at once from the browser's
// session at the OP when there is one the request may reuse, with
// login_required when the client asked for no interaction (prompt=none),
// and with the form otherwise.
func (l *loginForm) show(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	a, err := l.store.pendingLogin(id)
	if err != nil {
		l.render(w, http.StatusBadRequest, loginView{Error: msgUnknownRequest})
		return
	}
	now := time.Now()
	if c, err := r.Cookie(ssoCookie); err == nil {
		if sess, ok := l.store.session(c.Value, now); ok && a.reusable(sess, now) {
			l.finish(w, r, id, sess)
			return
		}
	}
	if a.silent() {
		l.refuse(w, r, a, "login_required", "the user is not signed in at the identity provider")
		return
	}
	l.render(w, http.StatusOK, loginView{ID: id})
}

// submit checks the credentials posted by the form, or gives up when the
// user cancelled. A wrong password and an unknown username get the same
// answer, so the form does not reveal which accounts exist.
func (l *loginForm) submit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		l.render(w, http.StatusBadRequest, loginView{Error: "The form could not be read."})
		return
	}
	id := r.PostForm.Get("authRequestID")
	username := r.PostForm.Get("username")
	a, err := l.store.pendingLogin(id)
	if err != nil {
		l.render(w, http.StatusBadRequest, loginView{Error: msgUnknownRequest})
		return
	}
	if r.PostForm.Has("cancel") {
		l.refuse(w, r, a, "access_denied", "the user cancelled the sign-in")
		return
	}
	u, ok := l.store.authenticate(username, r.PostForm.Get("password"))
	if !ok {
		l.log.InfoContext(r.Context(), "login refused", "username", username)
		l.render(w, http.StatusUnauthorized, loginView{ID: id, Username: username, Error: msgBadCredentials})
		return
	}
	cookie := l.store.startSession(u.Subject, time.Now())
	sess, _ := l.store.session(cookie, time.Now())
	l.setSessionCookie(w, cookie)
	l.finish(w, r, id, sess)
}

// finish completes the auth request in the browser session sess and sends
// the browser to op's callback, which redirects it to the client with a
// code.
func (l *loginForm) finish(w http.ResponseWriter, r *http.Request, id string, sess ssoSession) {
	subject := sess.subject
	if err := l.store.completeLogin(id, subject, sess.authTime, sess.sid); err != nil {
		// Expired or completed by a concurrent submission since the check.
		l.render(w, http.StatusBadRequest, loginView{Error: msgUnknownRequest})
		return
	}
	l.log.InfoContext(r.Context(), "login", "sub", subject)
	// op builds the callback URL from the issuer in the context, which only
	// its own router sets; this handler sits beside that router.
	ctx := op.ContextWithIssuer(r.Context(), l.issuer)
	http.Redirect(w, r, l.callback(ctx, id), http.StatusSeeOther)
}

// refuse ends the auth request with an OAuth error, sent to the client's
// redirect URI as RFC 6749 section 4.1.2.1 says.
func (l *loginForm) refuse(w http.ResponseWriter, r *http.Request, a *authRequest, code, description string) {
	l.store.DeleteAuthRequest(r.Context(), a.id)
	u, err := url.Parse(a.redirectURI)
	if err != nil {
		l.render(w, http.StatusBadRequest, loginView{Error: msgUnknownRequest})
		return
	}
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", description)
	if a.state != "" {
		q.Set("state", a.state)
	}
	u.RawQuery = q.Encode()
	l.log.InfoContext(r.Context(), "login not completed", "error", code)
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

func (l *loginForm) render(w http.ResponseWriter, status int, v loginView) {
	v.CSS = template.CSS(loginCSS)
	v.Action = l.action
	v.Hint = l.hint
	l.setPageHeaders(w)
	w.WriteHeader(status)
	if err := loginPage.Execute(w, v); err != nil {
		l.log.Error("render login page", "err", err)
	}
}

// setPageHeaders are the headers of every page the OP renders: no caching,
// no script, no framing.
func (l *loginForm) setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", l.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}
