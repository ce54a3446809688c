package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bff/internal/bfftest/kit"
)

// countingWriter is the pipe: what reached it, in how many writes.
type countingWriter struct {
	kit.Buffer
	writes atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Buffer.Write(p)
}

func TestLogBufferChunks(t *testing.T) {
	out := &countingWriter{}
	b := NewLogBuffer(out, 1024, time.Hour)
	line := strings.Repeat("x", 99) + "\n"
	for range 5 {
		b.Write([]byte(line))
	}
	if out.String() != "" {
		t.Fatalf("written before the chunk filled: %q", out.String())
	}
	for range 100 {
		b.Write([]byte(line))
	}
	// 10,500 bytes in chunks of at least 1,024: about ten writes, not 105.
	if n := out.writes.Load(); n < 9 || n > 11 {
		t.Errorf("%d writes for 105 lines in 1 KiB chunks", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != strings.Repeat(line, 105) {
		t.Errorf("after Close: %d bytes, want %d", len(got), 105*len(line))
	}
	b.Write([]byte("late\n"))
	if !strings.HasSuffix(out.String(), "late\n") {
		t.Error("a line written after Close was held back")
	}
}

func TestLogBufferFlushesOnTime(t *testing.T) {
	out := &countingWriter{}
	b := NewLogBuffer(out, 1<<20, 20*time.Millisecond)
	defer b.Close()
	b.Write([]byte("one\n"))
	for deadline := time.Now().Add(5 * time.Second); out.String() != "one\n"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not flushed within 5 s of a 20 ms interval: %q", out.String())
		}
	}
}

// TestLogBufferUnbuffered: a size of 0 writes each line through at once,
// as the Lambda build needs, and Close still works.
func TestLogBufferUnbuffered(t *testing.T) {
	out := &countingWriter{}
	b := NewLogBuffer(out, 0, 0)
	for i := range 3 {
		b.Write([]byte("line\n"))
		if n := out.writes.Load(); n != int64(i+1) || out.String() != strings.Repeat("line\n", i+1) {
			t.Fatalf("after %d lines: %d writes, %q", i+1, n, out.String())
		}
	}
	if err := b.Close(); err != nil || out.writes.Load() != 3 {
		t.Errorf("Close: %v, %d writes", err, out.writes.Load())
	}
}

// TestLogBufferConcurrent: lines written from many goroutines all arrive,
// whole, whatever the chunk boundaries.
func TestLogBufferConcurrent(t *testing.T) {
	out := &countingWriter{}
	b := NewLogBuffer(out, 512, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(b, "g%d %d %s\n", g, i, strings.Repeat("y", i%50))
			}
		})
	}
	wg.Wait()
	b.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	next := map[string]int{}
	for _, l := range lines {
		g, rest, _ := strings.Cut(l, " ")
		if want := fmt.Sprintf("%d %s", next[g], strings.Repeat("y", next[g]%50)); rest != want {
			t.Fatalf("line %q out of order or torn: want %s %s", l, g, want)
		}
		next[g]++
	}
}

// TestNewLogHandler: access-log lines wait for the flush; any other
// line goes out at once, with the access lines before it.
func TestNewLogHandler(t *testing.T) {
	out := &countingWriter{}
	b := NewLogBuffer(out, 1<<20, time.Hour)
	defer b.Close()
	log := slog.New(NewLogHandler(b, nil)).With("replica", 1)
	log.LogAttrs(context.Background(), slog.LevelInfo, accessMessage, slog.String("route", "/api/"))
	if out.String() != "" {
		t.Fatalf("an access-log line was written at once: %q", out.String())
	}
	log.Info("bff listening")
	got := out.String()
	if !strings.Contains(got, `"route":"/api/"`) || !strings.Contains(got, "bff listening") || strings.Index(got, "/api/") > strings.Index(got, "listening") {
		t.Errorf("after an info line: %q; want the access line, then it", got)
	}
	log.LogAttrs(context.Background(), slog.LevelInfo, accessMessage, slog.String("route", "/auth/session"))
	log.Warn("refresh failed")
	if got := out.String(); !strings.Contains(got, "/auth/session") || !strings.HasSuffix(got, "\"replica\":1}\n") || !strings.Contains(got, "refresh failed") {
		t.Errorf("after a warning: %q", got)
	}
}
