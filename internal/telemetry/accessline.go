package telemetry

import (
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// accessLine is one access-log line's fields.
type accessLine struct {
	method, route, requestID string
	subHash, traceID         string // "" when the request had none
	status                   int
	took                     time.Duration
}

// attrs are the line's fields as slog writes them.
func (l *accessLine) attrs() []slog.Attr {
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs,
		slog.String("method", l.method),
		slog.String("route", l.route),
		slog.Int("status", l.status),
		slog.Float64("duration", Milliseconds(l.took)),
		slog.String("request_id", l.requestID),
	)
	if l.subHash != "" {
		attrs = append(attrs, slog.String("sub_hash", l.subHash))
	}
	if l.traceID != "" {
		attrs = append(attrs, slog.String("trace_id", l.traceID))
	}
	return attrs
}

// accessWriter is a handler that writes an access-log line itself, byte
// for byte as slog's JSON handler would, without a slog.Record: slog
// captures the caller's program counter for every record and formats a
// float through encoding/json, which together cost bff a few percent of
// its time under load. writeAccess reports false when it cannot write
// the line (a field it would have to escape beyond ASCII), and the caller
// then logs it through slog.
type accessWriter interface {
	writeAccess(t time.Time, level slog.Level, l *accessLine) bool
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendAccessLine appends l as one JSON line, as slog.JSONHandler writes
// a record with msg accessMessage and l.attrs(); ok is false when a field
// holds a byte it leaves to slog.
func appendAccessLine(b []byte, t time.Time, level slog.Level, l *accessLine) (_ []byte, ok bool) {
	b = append(b, `{"time":"`...)
	b = t.Round(0).AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, level.String()...)
	b = append(b, `","msg":"`+accessMessage+`","method":"`...)
	if b, ok = appendASCII(b, l.method); !ok {
		return b, false
	}
	b = append(b, `","route":"`...)
	if b, ok = appendASCII(b, l.route); !ok {
		return b, false
	}
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"duration":`...)
	// What encoding/json writes for these values: no exponent from 1e-6 to
	// 1e21, and durations are whole microseconds.
	b = strconv.AppendFloat(b, Milliseconds(l.took), 'f', -1, 64)
	b = append(b, `,"request_id":"`...)
	if b, ok = appendASCII(b, l.requestID); !ok {
		return b, false
	}
	for _, f := range [...]struct{ key, val string }{{"sub_hash", l.subHash}, {"trace_id", l.traceID}} {
		if f.val == "" {
			continue
		}
		b = append(b, `","`+f.key+`":"`...)
		if b, ok = appendASCII(b, f.val); !ok {
			return b, false
		}
	}
	return append(b, "\"}\n"...), true
}

// appendASCII appends s escaped for a JSON string as slog escapes it, or
// reports false for a byte beyond ASCII.
func appendASCII(b []byte, s string) ([]byte, bool) {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return b, false
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return b, true
}
