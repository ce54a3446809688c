package oidc

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"

	"bff/internal/endpoint"
)

// The callback is a browser navigation, so a person reads its failures: a
// small page that says what happened in words and offers to try again. It
// holds no script and loads nothing; its one inline style is allowed by
// its hash, and nothing else is allowed at all.

// Error codes the callback reports, beside the IdP's own OAuth codes.
const (
	errInvalidState     = "invalid_state"     // the attempt is unknown, expired or was used
	errIdP              = "idp_error"         // the IdP refused the code, or answered what bff cannot accept
	errIdPUnavailable   = "idp_unavailable"   // the IdP could not be reached, or answered 5xx
	errTooLarge         = "session_too_large" // the session would not fit in the cookies allowed
	errStoreUnavailable = "store_unavailable" // the shared store (Redis) could not be reached
)

const errorPageStyle = `body{font:16px/1.5 system-ui,sans-serif;color:#1d2433;background:#f4f6fa;margin:0;display:grid;place-items:center;min-height:100vh}` +
	`main{background:#fff;max-width:28rem;margin:1rem;padding:2rem 2.25rem;border-radius:12px;box-shadow:0 1px 3px #0002}` +
	`h1{font-size:1.35rem;margin:0 0 .75rem}p{margin:0 0 1.25rem;color:#4a5368}` +
	`a{display:inline-block;background:#2f5bea;color:#fff;text-decoration:none;padding:.55rem 1.1rem;border-radius:8px}` +
	`code{font-size:.85rem;color:#6b7386}`

const errorPageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in failed</title><style>{{.Style}}</style></head>
<body><main>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
<p><a href="{{.Retry}}">Try again</a></p>
<p><code>{{.Code}}</code></p>
</main></body></html>
`

// errorPage renders the callback's failures.
type errorPage struct {
	tmpl *template.Template
	csp  string
}

func newErrorPage() *errorPage {
	sum := sha256.Sum256([]byte(errorPageStyle))
	return &errorPage{
		tmpl: template.Must(template.New("error").Parse(errorPageHTML)),
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
			"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	}
}

// message is what a person is told for each kind of failure.
func message(code string) (title, msg string) {
	switch code {
	case errInvalidState:
		return "This sign-in has expired", "The sign-in took too long, was already used, or was started in another browser. Start again from the beginning."
	case errIdPUnavailable:
		return "Sign-in is unavailable", "The identity provider could not be reached. Your account is fine; try again in a moment."
	case errStoreUnavailable:
		return "Sign-in is unavailable", "This site could not reach its session store. Your account is fine; try again in a moment."
	case errTooLarge:
		return "Sign-in could not be completed", "Your account holds more than this site can keep. The site's operators have been told."
	case "access_denied":
		return "Sign-in was cancelled", "You did not sign in. You can try again whenever you like."
	case errIdP:
		return "Sign-in could not be completed", "The identity provider did not complete the sign-in. Try again."
	default:
		return "Sign-in could not be completed", "The identity provider refused the sign-in. Try again, or contact the site's operators if it keeps happening."
	}
}

// loginFailed answers a failed callback: a redirect to BFF_ERROR_URL with
// the code added to its query when one is configured, else the page.
func (a *Auth) loginFailed(w http.ResponseWriter, r *http.Request, status int, code, returnTo string) {
	if a.cfg.ErrorURL != "" {
		if u, err := url.Parse(a.cfg.ErrorURL); err == nil {
			q := u.Query()
			q.Set("error", code)
			u.RawQuery = q.Encode()
			w.Header().Set("Location", u.String())
			w.WriteHeader(http.StatusFound)
			return
		}
	}
	if returnTo == "" {
		returnTo = "/"
	}
	title, msg := message(code)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", a.errorPage.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = a.errorPage.tmpl.Execute(w, struct {
		Style          template.CSS
		Title, Message string
		Retry, Code    string
	}{template.CSS(errorPageStyle), title, msg, endpoint.Login + "?returnTo=" + url.QueryEscape(returnTo), code})
}
