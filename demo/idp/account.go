package idp

import (
	"cmp"
	"html/template"
	"net/http"
	"time"
)

// The account page is the OP's own page, outside any client's flow: it
// shows who is signed in at the OP in this browser and lets them sign out
// of the OP, which ends their session at the client too (back-channel
// logout).

const (
	accountPath = "/account"
	signOutPath = "/signout"
)

var accountPage = template.Must(template.New("account").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Identity provider</title>
<style>{{.CSS}}</style>
</head>
<body>
<main>
<h1>Identity provider</h1>
{{- if .Name}}
<p>Signed in as <strong id="user">{{.Name}}</strong>.</p>
<form method="post" action="{{.Action}}">
<button type="submit">Sign out of the identity provider</button>
</form>
{{- else}}
<p id="status">{{.Status}}</p>
{{- end}}
</main>
</body>
</html>
`))

type accountView struct {
	CSS    template.CSS
	Action string
	Name   string // who is signed in; "" shows Status instead
	Status string
}

// account answers GET /account.
func (l *loginForm) account(w http.ResponseWriter, r *http.Request) {
	v := accountView{Status: "You are not signed in at the identity provider."}
	if c, err := r.Cookie(ssoCookie); err == nil {
		if sess, ok := l.store.session(c.Value, time.Now()); ok {
			if u, ok := l.store.user(sess.subject); ok {
				v.Name = cmp.Or(u.Name, u.Username)
			}
		}
	}
	l.renderAccount(w, http.StatusOK, v)
}

// signOut answers POST /signout: the browser's session at the OP ends,
// every grant made in it is revoked, and the client hears of it. The
// session cookie is SameSite=Lax, so another site cannot post this form
// on the user's behalf.
func (l *loginForm) signOut(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(ssoCookie)
	if err != nil {
		l.renderAccount(w, http.StatusOK, accountView{Status: "You are not signed in at the identity provider."})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: ssoCookie, Path: l.cookiePath, HttpOnly: true, Secure: l.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	sess, ok := l.store.endBrowserSession(c.Value)
	if !ok {
		l.renderAccount(w, http.StatusOK, accountView{Status: "You are not signed in at the identity provider."})
		return
	}
	status := "You are signed out of the identity provider, and the application was told to end your session."
	if err := l.backchannel.notify(r.Context(), sess); err != nil {
		// The grants are revoked whatever happened: the application's next
		// refresh fails even though it was not told.
		l.log.WarnContext(r.Context(), "back-channel logout not delivered", "sub", sess.subject, "err", err)
		status = "You are signed out of the identity provider. The application could not be told; its session ends when it next asks for tokens."
	} else {
		l.log.InfoContext(r.Context(), "back-channel logout delivered", "sub", sess.subject)
	}
	l.renderAccount(w, http.StatusOK, accountView{Status: status})
}

func (l *loginForm) renderAccount(w http.ResponseWriter, status int, v accountView) {
	v.CSS = template.CSS(loginCSS)
	v.Action = l.issuer + signOutPath
	l.setPageHeaders(w)
	w.WriteHeader(status)
	if err := accountPage.Execute(w, v); err != nil {
		l.log.Error("render account page", "err", err)
	}
}
