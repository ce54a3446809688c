package telemetry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"bff/internal/endpoint"
)

// RequestIDHeader carries a request's id: taken from the client or the load
// balancer when it looks sane, made up otherwise, echoed on the response and
// passed upstream so one id follows the request everywhere.
const RequestIDHeader = "X-Request-Id"

// accessMessage is the msg of every access-log line.
const accessMessage = "request"

type infoKey struct{}

// info is what a request's handlers learn for its access-log line.
type info struct {
	subject string
	trace   trace.TraceID // set by Tracing.Middleware, which runs inside AccessLog
}

func infoFrom(ctx context.Context) *info {
	i, _ := ctx.Value(infoKey{}).(*info)
	return i
}

// AccessLog writes one line per request — method, route, status, duration
// in milliseconds, request id and the hashed subject of its session — and
// counts the request. route names the request for metrics and logs; it
// must return one of a small, fixed set of values, never the raw path.
// The probes are logged at debug level: an orchestrator asks every few
// seconds, and those lines would drown the rest.
func AccessLog(log *slog.Logger, m *Metrics, route func(*http.Request) string, next http.Handler) http.Handler {
	fast, _ := log.Handler().(accessWriter)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.started()
		id := r.Header.Get(RequestIDHeader)
		if !saneRequestID(id) {
			id = newRequestID()
			r.Header.Set(RequestIDHeader, id)
		}
		w.Header().Set(RequestIDHeader, id)
		i := &info{}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, i))
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)

		status := rec.status
		if status == 0 {
			status = http.StatusOK // the handler wrote nothing: net/http sends 200
		}
		name := route(r)
		took := time.Since(start)
		m.finished(name, status, took)
		level := slog.LevelInfo
		if name == endpoint.Health || name == endpoint.Ready {
			level = slog.LevelDebug
		}
		if !log.Enabled(r.Context(), level) {
			return
		}
		line := accessLine{method: r.Method, route: name, status: status, took: took, requestID: id}
		if i.subject != "" {
			line.subHash = SubjectHash(i.subject)
		}
		if i.trace.IsValid() {
			line.traceID = i.trace.String()
		}
		if fast == nil || !fast.writeAccess(time.Now(), level, &line) {
			log.LogAttrs(r.Context(), level, accessMessage, line.attrs()...)
		}
	})
}

// Milliseconds is how the access log writes a duration: milliseconds as a
// number, to the microsecond.
func Milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// NoteSubject records the subject of the session r carries, for r's
// access-log line, which names it by [SubjectHash].
func NoteSubject(r *http.Request, subject string) {
	if info := infoFrom(r.Context()); info != nil {
		info.subject = subject
	}
}

// SubjectHash is how logs name a user: stable enough to follow one session
// through the logs, not the identifier itself.
func SubjectHash(subject string) string {
	sum := sha256.Sum256([]byte("bff-sub:" + subject))
	return hex.EncodeToString(sum[:6])
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newRequestID returns 16 base32 characters (80 bits) from the runtime's
// per-thread ChaCha8 generator. A request id must be unique, not secret,
// and crypto/rand cost a measurable share of a proxied request.
func newRequestID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := range 12 {
		b[i] = alphabet[hi&31]
		hi >>= 5
	}
	for i := 12; i < 16; i++ {
		b[i] = alphabet[lo&31]
		lo >>= 5
	}
	return string(b[:])
}

// statusRecorder remembers the status. Unwrap lets http.ResponseController
// reach the real writer, so flushing (server-sent events) and hijacking
// (WebSocket upgrades) still work through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 || s.status < 200 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
