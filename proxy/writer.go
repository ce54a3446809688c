package proxy

import (
	"maps"
	"net/http"
)

// responseWriter is what the ReverseProxy writes to. It keeps the
// upstream's headers apart from the ones bff set on the response before
// proxying (security headers, a resealed session cookie, the request id)
// until the final status, because ReverseProxy would otherwise send bff's
// headers out on an informational (1xx) response and then clear them, so
// that the final response, which must carry a refreshed session, lacks
// them.
//
// On a 1xx it sends the upstream's headers alone, without any Set-Cookie
// of bff's own names; on the final status it merges the upstream's into
// bff's as [mergeHeaders] says. Unwrap lets flushes (event streams) and hijacks
// (WebSockets) through.
type responseWriter struct {
	http.ResponseWriter
	ownsCookie func(string) bool
	upstream   http.Header
	wrote      bool
}

func (w *responseWriter) Header() http.Header {
	if w.wrote {
		// Trailers, which ReverseProxy adds after the body.
		return w.ResponseWriter.Header()
	}
	if w.upstream == nil {
		w.upstream = make(http.Header)
	}
	return w.upstream
}

func (w *responseWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	bff := w.ResponseWriter.Header()
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		dropOwnCookies(w.upstream, w.ownsCookie)
		kept := maps.Clone(bff)
		clear(bff)
		maps.Copy(bff, w.upstream)
		w.ResponseWriter.WriteHeader(code)
		clear(bff)
		maps.Copy(bff, kept)
		return
	}
	w.wrote = true
	mergeHeaders(bff, w.upstream, true)
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
