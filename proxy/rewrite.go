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
// ReverseProxy has removed hop-by-hop headers, Forwarded, and the
// X-Forwarded-For, -Host and -Proto the client sent.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(forwardKey{}).(*forward)
	out, up := pr.Out, f.route.upstream
	out.URL.Scheme, out.URL.Host = up.Scheme, up.Host
	out.URL.Opaque, out.URL.User = "", nil
	out.URL.Path, out.URL.RawPath = f.route.target(f.rest, f.rawRest)
	out.Host = "" // send the upstream's own name, as ProxyRequest.SetURL does
	dropClientForwarding(out.Header)
	// What the browser asked for, as bff's operator configured it: never
	// the client's Host, nor bff's own connection, which may be plain
	// http behind a load balancer that ends TLS.
	if f.client.IsValid() {
		out.Header.Set("X-Forwarded-For", f.client.String())
	}
	out.Header.Set("X-Forwarded-Host", p.publicHost)
	out.Header.Set("X-Forwarded-Proto", p.publicProt)
	out.Header.Set("Authorization", "Bearer "+f.token)
	out.Header.Del(policy.CSRFHeader)
	p.filterCookies(out.Header)
}

// dropClientForwarding removes every header through which a client could
// tell the upstream where a request came from or what it asked for:
// upstreams and the frameworks in them believe these, and only bff may say.
// A name with "_" goes when it would be one of them with "-": CGI-style
// stacks (Rack, WSGI) read X_Forwarded_For as X-Forwarded-For.
func dropClientForwarding(h http.Header) {
	for name := range h {
		key := name
		if strings.IndexByte(name, '_') >= 0 {
			key = http.CanonicalHeaderKey(strings.ReplaceAll(name, "_", "-"))
		}
		if strings.HasPrefix(key, "X-Forwarded-") || clientForwarding(key) {
			delete(h, name)
		}
	}
}

func clientForwarding(name string) bool {
	switch name {
	case "Forwarded", "X-Real-Ip", "True-Client-Ip", "X-Client-Ip", "Cf-Connecting-Ip",
		"Fastly-Client-Ip", "X-Cluster-Client-Ip", "X-Original-Url", "X-Rewrite-Url":
		return true
	}
	return false
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
// final upstream response, a WebSocket's 101 included.
//
// It drops any Set-Cookie that would overwrite one of bff's cookies (see
// [dropOwnCookies]) and the upstream's CORS headers: bff alone decides
// which other origins may read its responses, and by default none may.
//
// It marks the response private for caches: the request that reached a
// CDN carried a cookie, not an Authorization header, so nothing in HTTP
// stops a shared cache from serving one user's answer to everyone.
func (p *Proxy) filterResponse(res *http.Response) error {
	for name := range res.Header {
		if strings.HasPrefix(name, "Access-Control-") {
			delete(res.Header, name)
		}
	}
	for _, name := range dropOwnCookies(res.Header, p.ownsCookie) {
		p.log.Warn("proxy: dropped upstream Set-Cookie", "route", RouteOf(res.Request), "cookie", name)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy writes a 101 itself, from res.Header, on the
		// hijacked connection: bff's own headers (a resealed session) go
		// in here.
		if f, ok := res.Request.Context().Value(forwardKey{}).(*forward); ok {
			mergeHeaders(res.Header, f.bff, false)
		}
		return nil
	}
	privateCache(res.Header)
	return nil
}

// dropOwnCookies removes every Set-Cookie of h that names one of bff's
// cookies, or names none at all: some browsers stored "=__Host-x=y" as a
// nameless cookie and sent it back as "__Host-x=y", letting a site forge a
// cookie it could not set by name. It returns the names it dropped.
func dropOwnCookies(h http.Header, ownsCookie func(string) bool) (dropped []string) {
	lines := h["Set-Cookie"]
	if len(lines) == 0 {
		return nil
	}
	kept := lines[:0]
	for _, line := range lines {
		pair, _, _ := strings.Cut(line, ";")
		name, _, hasValue := strings.Cut(pair, "=")
		name = textproto.TrimString(name)
		if !hasValue || name == "" || ownsCookie(name) {
			dropped = append(dropped, name)
			continue
		}
		kept = append(kept, line)
	}
	if len(kept) == 0 {
		delete(h, "Set-Cookie")
	} else {
		h["Set-Cookie"] = kept
	}
	return dropped
}

// privateCache makes h's Cache-Control say private, keeping the other
// directives, unless it already says private or no-store. A "public"
// would contradict it and goes.
func privateCache(h http.Header) {
	lines := h["Cache-Control"]
	dirs := []string{"private"}
	for _, line := range lines {
		for d := range strings.SplitSeq(line, ",") {
			d = textproto.TrimString(d)
			switch name, _, _ := strings.Cut(strings.ToLower(d), "="); {
			case d == "":
			case strings.EqualFold(d, "private"), name == "no-store":
				return
			case name == "public":
			default:
				dirs = append(dirs, d)
			}
		}
	}
	if len(dirs) == 1 {
		h["Cache-Control"] = []string{"private"}
		return
	}
	h["Cache-Control"] = []string{strings.Join(dirs, ", ")}
}

// mergeHeaders adds src to dst: one is what bff set on the response
// before proxying, the other the upstream's, and srcUpstream says which.
// Set-Cookie and Vary lines add up. Strict-Transport-Security is bff's
// when bff set one: it covers the whole origin, and one API must not
// weaken it (max-age=0 would switch it off). Any other header is the
// upstream's when it sent one. The security headers then keep only their
// first value: a browser that sees two X-Frame-Options or two
// Strict-Transport-Security honours neither.
func mergeHeaders(dst, src http.Header, srcUpstream bool) {
	for name, values := range src {
		if name == "Set-Cookie" || name == "Vary" {
			dst[name] = append(dst[name], values...)
			continue
		}
		upstreamWins := name != "Strict-Transport-Security"
		if _, inDst := dst[name]; !inDst || srcUpstream == upstreamWins {
			dst[name] = values
		}
	}
	for _, name := range oneValue {
		if v := dst[name]; len(v) > 1 {
			dst[name] = v[:1]
		}
	}
}

// oneValue are the headers a browser ignores when they come twice.
var oneValue = [...]string{"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Strict-Transport-Security"}

// proxyError is the ReverseProxy's ErrorHandler: the upstream could not be
// reached, reset the connection, or sent no headers in time. The cause goes
// to the log only; it names hosts and ports that are none of the browser's
// business. Neither ever holds the token: transport errors do not quote
// headers.
func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	if ctx.Err() != nil {
		// The browser went away, which cancelled the upstream request.
		p.log.DebugContext(ctx, "proxy: client went away", "route", RouteOf(r), "method", r.Method, "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	p.log.WarnContext(ctx, "proxy: upstream failed", "route", RouteOf(r), "upstream", r.URL.Host, "method", r.Method, "err", err)
	problem.Write(w, http.StatusBadGateway, "Bad gateway", "The upstream service did not respond.")
}

// RouteOf names the route of an outgoing upstream request by its prefix,
// e.g. "/api/", or "" for a request that did not come through a Proxy:
// for the log, and for a Transport wrapper to label upstream metrics.
func RouteOf(r *http.Request) string {
	if r == nil {
		return ""
	}
	if f, ok := r.Context().Value(forwardKey{}).(*forward); ok {
		return f.route.prefix
	}
	return ""
}
