package idp

import (
	"log/slog"
	"net/http"
)

// logGrants writes one line per token grant: its type and the status the
// OP answered with, never a token or a credential.
func logGrants(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var grant string
		if err := r.ParseForm(); err == nil {
			// op parses the same form again; ParseForm keeps its result, so
			// the body is not read twice.
			grant = r.Form.Get("grant_type")
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusOK {
			log.InfoContext(r.Context(), "token grant", "grant_type", grant)
			return
		}
		log.InfoContext(r.Context(), "token grant refused", "grant_type", grant, "status", sw.status)
	})
}

// statusWriter remembers the status of the response it passes on.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(p)
}
