package idp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// serveToken passes the token endpoint through to op, holding the response
// back until it has been recorded: the grant counted, the tokens added to
// IssuedTokens. A client therefore never holds a token IssuedTokens does not
// list yet.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	var grant string
	if err := r.ParseForm(); err == nil {
		// op parses the same form again; ParseForm keeps its result, so the
		// body is not read twice.
		grant = r.Form.Get("grant_type")
	}
	buf := &bufferedResponse{header: make(http.Header), status: http.StatusOK}
	p.op.ServeHTTP(buf, r)
	p.recordGrant(r, grant, buf.status, buf.body.Bytes())
	buf.sendTo(w)
}

func (p *Provider) recordGrant(r *http.Request, grant string, status int, body []byte) {
	var tokens []string
	if status == http.StatusOK {
		var resp struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if err := json.Unmarshal(body, &resp); err == nil {
			for _, t := range []string{resp.AccessToken, resp.RefreshToken, resp.IDToken} {
				if t != "" {
					tokens = append(tokens, t)
				}
			}
		}
	}

	p.mu.Lock()
	p.issued = append(p.issued, tokens...)
	switch {
	case grant == string(oidc.GrantTypeCode) && status == http.StatusOK:
		p.counts.AuthCodeGrants++
	case grant == string(oidc.GrantTypeRefreshToken) && status == http.StatusOK:
		p.counts.RefreshGrants++
	case grant == string(oidc.GrantTypeRefreshToken):
		p.counts.RefreshRefused++
	}
	p.mu.Unlock()

	if status == http.StatusOK {
		p.log.InfoContext(r.Context(), "token grant", "grant_type", grant)
		return
	}
	var oerr struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &oerr)
	p.log.InfoContext(r.Context(), "token grant refused", "grant_type", grant, "status", status, "error", oerr.Error)
}

// bufferedResponse is an http.ResponseWriter that keeps the whole response
// until sendTo writes it out.
type bufferedResponse struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if !b.wroteHeader {
		b.status, b.wroteHeader = status, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wroteHeader = true
	return b.body.Write(p)
}

func (b *bufferedResponse) sendTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range b.header {
		h[k] = slices.Clone(v)
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
