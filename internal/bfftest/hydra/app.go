package hydra

import (
	"net/http"
	"net/url"
)

// flows is the login, consent and logout app Hydra sends browsers to. It
// accepts every challenge through the admin API, as an app would once the
// user had typed a password and clicked "allow", and sends the browser on
// to where Hydra says.
func (h *Hydra) flows() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		// remember: Hydra keeps a login session, which RP-initiated logout
		// then ends through the logout app.
		h.accept(w, r, "login", map[string]any{"subject": h.User.Subject, "remember": true})
	})
	mux.HandleFunc("GET /consent", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Scope    []string `json:"requested_scope"`
			Audience []string `json:"requested_access_token_audience"`
		}
		if err := h.admin(http.MethodGet, "/admin/oauth2/auth/requests/consent?"+challenge(r, "consent"), nil, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		// remember: Hydra grants this client's next prompt=none sign-in
		// without asking again.
		h.accept(w, r, "consent", map[string]any{
			"grant_scope":                 req.Scope,
			"grant_access_token_audience": req.Audience,
			"session":                     map[string]any{"id_token": h.User.Claims},
			"remember":                    true,
		})
	})
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		if h.accept(w, r, "logout", nil) {
			h.Logouts.Add(1)
		}
	})
	return mux
}

// challenge is the query naming the request's login, consent or logout
// challenge, as the admin API takes it.
func challenge(r *http.Request, flow string) string {
	name := flow + "_challenge"
	return url.Values{name: {r.URL.Query().Get(name)}}.Encode()
}

// accept accepts the request's challenge of flow with body and redirects
// the browser where Hydra says; it reports whether Hydra accepted.
func (h *Hydra) accept(w http.ResponseWriter, r *http.Request, flow string, body any) bool {
	var out struct {
		RedirectTo string `json:"redirect_to"`
	}
	path := "/admin/oauth2/auth/requests/" + flow + "/accept?" + challenge(r, flow)
	if err := h.admin(http.MethodPut, path, body, &out); err != nil || out.RedirectTo == "" {
		http.Error(w, "accepting the "+flow+" challenge failed: "+errText(err), http.StatusBadGateway)
		return false
	}
	http.Redirect(w, r, out.RedirectTo, http.StatusFound)
	return true
}

func errText(err error) string {
	if err == nil {
		return "no redirect_to"
	}
	return err.Error()
}
