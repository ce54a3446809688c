package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestAccessLineAsSlogWritesIt: the access log's own formatting writes the
// very bytes slog's JSON handler writes for the same record, or declines.
func TestAccessLineAsSlogWritesIt(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	times := []time.Time{time.Now(), time.Date(2026, 12, 1, 9, 8, 7, 0, time.UTC), time.Date(2026, 12, 1, 9, 8, 7, 120_000, berlin)}
	lines := []accessLine{
		{method: "GET", route: "/api/", requestID: "req-abc.123", status: 200, took: 1234567 * time.Nanosecond},
		{method: "POST", route: "/auth/callback", requestID: "x", subHash: "0a1b2c3d4e5f", traceID: "4bf92f3577b34da6a3ce929d0e0e4736", status: 302, took: 0},
		{method: "PROPFIND", route: "/*", requestID: "y", status: 405, took: time.Microsecond},
		{method: "GET", route: "/healthz", requestID: "z", status: 503, took: 999 * time.Microsecond},
		{method: "GET", route: "/api/", requestID: "z", status: 200, took: 90 * time.Minute},
		{method: "GET", route: `/we"ird\path/` + "\n\r\t\x01\x1f<>&\x7f", requestID: "z", status: 200, took: 3 * time.Second},
		{method: "GET", route: "/é/", requestID: "z", status: 200, took: time.Millisecond}, // beyond ASCII: left to slog
	}
	for _, l := range lines {
		for _, tm := range times {
			for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
				var want bytes.Buffer
				rec := slog.NewRecord(tm, level, accessMessage, 0)
				rec.AddAttrs(l.attrs()...)
				if err := slog.NewJSONHandler(&want, &slog.HandlerOptions{Level: slog.LevelDebug}).Handle(context.Background(), rec); err != nil {
					t.Fatal(err)
				}
				got, ok := appendAccessLine(nil, tm, level, &l)
				if !ok {
					if l.route != "/é/" {
						t.Errorf("declined %q", want.String())
					}
					continue
				}
				if !bytes.Equal(got, want.Bytes()) {
					t.Errorf("access line\n got %s\nwant %s", got, want.Bytes())
				}
			}
		}
	}
}

// TestAccessLogWritesItsOwnLine: behind bff's handler the access log takes
// its own path, and the line is what an operator's tools read.
func TestAccessLogWritesItsOwnLine(t *testing.T) {
	var out bytes.Buffer
	b := NewLogBuffer(&out, 1<<20, time.Hour)
	log := slog.New(NewLogHandler(b, nil))
	if _, ok := log.Handler().(accessWriter); !ok {
		t.Fatal("bff's log handler does not write access lines itself")
	}
	h := AccessLog(log, NewMetrics(), func(*http.Request) string { return "/api/" }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		w.WriteHeader(http.StatusCreated)
	}))
	r := httptest.NewRequest(http.MethodPost, "/api/x?q=1", nil)
	r.Header.Set(RequestIDHeader, "req-1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	b.Close()
	var line map[string]any
	if err := json.Unmarshal(out.Bytes(), &line); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if line["msg"] != "request" || line["level"] != "INFO" || line["method"] != "POST" || line["route"] != "/api/" ||
		line["status"] != float64(201) || line["request_id"] != "req-1" {
		t.Errorf("line %v", line)
	}
	if ms, ok := line["duration"].(float64); !ok || ms < 2 || ms > 2000 {
		t.Errorf("duration %v: want milliseconds, at least 2", line["duration"])
	}
}
