// Package proxy forwards the single-page app's API calls to upstream APIs,
// attaching the signed-in user's access token. It is the half of bff that
// makes the browser never hold a token: the SPA calls /api/orders on its own
// origin with its session cookie, and the proxy calls
// http://orders:9000/v1/orders with "Authorization: Bearer ...".
//
// # Routes
//
// BFF_ROUTES lists PREFIX=UPSTREAM pairs (see [ParseRoutes]). The longest
// prefix that matches the request path wins; the prefix is stripped and the
// rest is joined onto the upstream URL's path with exactly one slash, the
// query left alone. The prefix without its trailing slash ("/api") names
// the upstream path itself. Nothing outside the listed prefixes is ever
// forwarded, so an upstream exposes to the browser only what the operator
// chose to route.
//
// # What each request must pass
//
// In order, each failure answered with RFC 9457 problem+json:
//
//  1. A route: otherwise 404.
//  2. A clean path: no empty, "." or ".." segments, whether written plainly
//     or percent-encoded ("%2e%2e", "..%2F"), or hidden behind path
//     parameters ("..;", ".;x", "..%3b"), which servlet containers drop
//     before resolving dot segments; a backslash counts as a separator
//     because some upstream servers treat it as one. Otherwise 400: the
//     proxy does not normalise, because the upstream might normalise
//     differently, and a path that escapes the prefix after decoding would
//     reach an endpoint the operator never routed. Then a method an SPA's
//     API calls use: GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS,
//     exactly so spelled; anything else (TRACE, which would echo the
//     bearer token back to the page, "trace", TRACK, WebDAV's) gets 405.
//  3. CSRF. The browser attaches the session cookie to any request to this
//     origin, including ones a hostile site triggers, and the proxy turns
//     that cookie into a token. So a normal request must carry "X-CSRF: 1":
//     a cross-site form or link cannot set a header, and a cross-site fetch
//     that sets one needs a CORS preflight bff never grants. A WebSocket
//     handshake cannot carry custom headers, so it must instead come with
//     Origin equal to the BFF's public origin, which browsers set and
//     pages cannot forge. Any other protocol upgrade (h2c, say) is refused:
//     it would let the client speak directly to the upstream past the
//     prefix.
//  4. A token from [Tokens]; on failure [Config.TokenError] answers (401 or
//     503, never a redirect: the caller is JavaScript, not a person).
//
// # What reaches the upstream
//
// The request as the browser sent it, except: Authorization is replaced by
// the user's bearer token; X-CSRF is dropped; bff's own cookies (the sealed
// session and login state) are removed from Cookie, the others kept byte
// for byte; hop-by-hop headers are removed; Host is the upstream's. Every
// header through which a client could say where a request came from or
// what it asked for (Forwarded, any X-Forwarded-*, X-Real-IP,
// True-Client-IP, X-Client-IP, CF-Connecting-IP, Fastly-Client-IP,
// X-Cluster-Client-IP, X-Original-URL, X-Rewrite-URL) is dropped, also
// when spelled with '_' for '-' (X_Forwarded_For), which CGI-style stacks
// read as the dashed name, and bff
// sets its own: X-Forwarded-For is the client as [Config.ClientAddr]
// resolves it (through the trusted proxies), X-Forwarded-Host and
// X-Forwarded-Proto come from [Config.PublicOrigin], never from the
// client's Host or from bff's own connection, which may be plain http
// behind a load balancer that ends TLS. [httputil.ReverseProxy] re-encodes
// a query it cannot parse exactly (one with ';' or a bad escape), so that
// the upstream and the proxy never disagree about parameters.
//
// # What reaches the browser
//
// The upstream's response, status and body unchanged, except:
//
//   - A Set-Cookie naming one of bff's cookies (or naming none at all, which
//     some browsers once serialised as any name the value chose) is
//     dropped, so an upstream can never overwrite or forge the session; so
//     are the upstream's Access-Control-* headers.
//   - Cache-Control says private (the upstream's other directives kept,
//     "public" dropped) unless it already says private or no-store: the
//     request that reached a CDN in front of bff carried a cookie, not an
//     Authorization header, so HTTP alone would let a shared cache store
//     one user's answer for everyone.
//   - The headers bff set before proxying (security headers, a resealed
//     session cookie, the request id) are merged in at the final status:
//     Set-Cookie and Vary add up; for anything else the upstream's value
//     replaces bff's, except Strict-Transport-Security, where bff's own
//     stays when it set one (it covers the whole origin, and one API must
//     not switch it off). X-Content-Type-Options, Referrer-Policy,
//     X-Frame-Options and Strict-Transport-Security keep only their first
//     value: a browser that sees two honours neither.
//   - An informational response (103 Early Hints) carries the upstream's
//     headers alone, filtered like the final response's; bff's own wait for
//     the final one, which is where a refreshed session must arrive.
//
// An upstream that cannot be reached, resets, or sends no headers within
// the transport's ResponseHeaderTimeout gets 502; the cause goes to the
// log, never the body.
//
// # Streaming
//
// There is no overall deadline on a proxied request: server-sent events and
// WebSockets live as long as both ends want. [httputil.ReverseProxy]
// flushes each write of a text/event-stream response, or of any response
// without a Content-Length, as it arrives, and splices a WebSocket
// connection after the upstream's 101. The server in front must not set
// WriteTimeout or ReadTimeout either, or it cuts such streams; the
// transport's ResponseHeaderTimeout bounds a hung upstream instead.
//
// An event stream is a normal request and needs X-CSRF like any other, and
// the browser's EventSource cannot send headers: the SPA reads streams with
// fetch and a body reader instead.
package proxy
