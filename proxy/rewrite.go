package proxy

import (
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"

	"bff/internal/policy"
	"bff/internal/problem"
)

// statusClientClosed is nginx's "client closed request": nobody reads it,
// but it tells an access log why the response is empty.
const statusClientClosed = 499

// rewrite is the ReverseProxy's Rewrite hook. By the time it runs,
// ReverseProxy has removed hop-by-hop headers and any X-Forwarded-* and
// Forwarded the client sent.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(forwardKey{}).(*forward)
	out, up := pr.Out, f.route.upstream
	out.URL.Scheme, out.URL.Host = up.Scheme, up.Host
	out.URL.Opaque, out.URL.User = "", nil
	out.URL.Path, out.URL.RawPath = f.route.target(f.rest, f.rawRest)
	out.Host = "" // send the upstream's own name, as ProxyRequest.SetURL does
	pr.SetXForwarded()
	out.Header.Set("Authorization", "Bearer "+f.token)
	out.Header.Del(policy.CSRFHeader)
	p.filterCookies(out.Header)
}

// target joins the request path after the prefix onto the upstream path
// with exactly one slash between them; the bare prefix (rest "") is the
// upstream path itself. The escaped form is kept whenever it says more than
// the decoded one, so that "a%2Fb" stays one segment upstream.
func (rt *route) target(rest, rawRest string) (path, rawPath string) {
	if rest == "" {
		return rt.upPath, rt.upstream.RawPath
	}
	path = rt.base + rest
	if rawRest != rest || rt.rawBase != rt.base {
		rawPath = rt.rawBase + rawRest
	}
	return path, rawPath
}

// filterCookies removes bff's own cookies from the Cookie header, which
// holds the sealed session, and keeps every other pair exactly as the
// browser sent it: an upstream may depend on a cookie the BFF has no
// business reformatting.
func (p *Proxy) filterCookies(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	var (
		b       strings.Builder
		dropped bool
	)
	for _, line := range lines {
		for pair := range strings.SplitSeq(line, ";") {
			pair = textproto.TrimString(pair)
			if pair == "" {
				continue
			}
			name, _, _ := strings.Cut(pair, "=")
			if p.ownsCookie(textproto.TrimString(name)) {
				dropped = true
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(pair)
		}
	}
	switch {
	case !dropped && len(lines) == 1:
		// Leave the header exactly as it came.
	case b.Len() == 0:
		h.Del("Cookie")
	default:
		h["Cookie"] = []string{b.String()}
	}
}

// filterResponse is the ReverseProxy's ModifyResponse hook, run on every
// upstream response including a WebSocket's 101. It drops any Set-Cookie
// that would overwrite one of bff's cookies, and any without a name: some
// browsers stored "=__Host-x=y" as a nameless cookie and sent it back as
// "__Host-x=y", letting a site forge a cookie it could not set by name.
//
// It also drops the upstream's CORS headers: bff alone decides which other
// origins may read its responses, and by default none may.
func (p *Proxy) filterResponse(res *http.Response) error {
	for name := range res.Header {
		if strings.HasPrefix(name, "Access-Control-") {
			delete(res.Header, name)
		}
	}
	lines := res.Header["Set-Cookie"]
	if len(lines) == 0 {
		return nil
	}
	kept := lines[:0]
	for _, line := range lines {
		pair, _, _ := strings.Cut(line, ";")
		name, _, hasValue := strings.Cut(pair, "=")
		name = textproto.TrimString(name)
		if !hasValue || name == "" || p.ownsCookie(name) {
			p.log.Warn("proxy: dropped upstream Set-Cookie", "route", routePrefix(res.Request), "cookie", name)
			continue
		}
		kept = append(kept, line)
	}
	if len(kept) == 0 {
		res.Header.Del("Set-Cookie")
	} else {
		res.Header["Set-Cookie"] = kept
	}
	return nil
}

// proxyError is the ReverseProxy's ErrorHandler: the upstream could not be
// reached, reset the connection, or sent no headers in time. The cause goes
// to the log only; it names hosts and ports that are none of the browser's
// business. Neither ever holds the token: transport errors do not quote
// headers.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if ctx.Err() != nil {
		// The browser went away, which cancelled the upstream request.
		p.log.DebugContext(ctx, "proxy: client went away", "route", routePrefix(r), "method", r.Method, "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	p.log.WarnContext(ctx, "proxy: upstream failed", "route", routePrefix(r), "upstream", r.URL.Host, "method", r.Method, "err", err)
	problem.Write(w, http.StatusBadGateway, "Bad gateway", "The upstream service did not respond.")
}

// RouteOf names the route of an outgoing upstream request by its prefix,
// e.g. "/api/", or "" for a request that did not come through a Proxy. A
// Transport wrapper uses it to label upstream metrics.
func RouteOf(r *http.Request) string { return routePrefix(r) }

// routePrefix names the route of an outgoing request for the log.
func routePrefix(r *http.Request) string {
	if r == nil {
		return ""
	}
	if f, ok := r.Context().Value(forwardKey{}).(*forward); ok {
		return f.route.prefix
	}
	return ""
}
