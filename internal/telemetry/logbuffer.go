package telemetry

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// LogBuffer collects log lines in memory and writes them on in large
// chunks: when a chunk fills, every interval, and on Flush and Close. One
// write(2) per request to a pipe cost bff about a tenth of its time under
// load; nginx (access_log buffer= flush=) and Envoy buffer their access
// logs for the same reason.
//
// Lines reach out whole and in the order they were written. While one
// chunk is being written, the next one fills, so a slow reader holds up
// only the goroutines that find the next chunk full too.
type LogBuffer struct {
	out   io.Writer
	size  int
	mu    sync.Mutex // guards buf
	buf   []byte
	wmu   sync.Mutex // one write to out at a time, in order; guards spare
	spare []byte
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// NewLogBuffer returns a LogBuffer writing to out in chunks of about size
// bytes, at least every interval. Close it to write what is left. A size
// of 0 writes every line through as it comes, with no periodic flush, for
// a process that may be frozen or ended between two flushes.
func NewLogBuffer(out io.Writer, size int, interval time.Duration) *LogBuffer {
	b := &LogBuffer{
		out:   out,
		size:  size,
		buf:   make([]byte, 0, size+size/4),
		spare: make([]byte, 0, size+size/4),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if size > 0 {
		go b.flushEvery(interval)
	} else {
		close(b.done)
	}
	return b
}

// Write adds p, which should be whole lines, to the buffer. It writes
// through to out only when the buffer is full.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= b.size
	b.mu.Unlock()
	if full {
		return len(p), b.Flush()
	}
	return len(p), nil
}

// Flush writes everything buffered so far to out.
func (b *LogBuffer) Flush() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	chunk := b.buf
	b.buf = b.spare[:0]
	b.mu.Unlock()
	var err error
	if len(chunk) > 0 {
		_, err = b.out.Write(chunk)
	}
	b.spare = chunk
	return err
}

// Close stops the periodic flush and writes what is left. Lines written
// after Close are written through at once.
func (b *LogBuffer) Close() error {
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		b.mu.Lock()
		b.size = 0 // from now on every Write flushes
		b.mu.Unlock()
	})
	return b.Flush()
}

func (b *LogBuffer) flushEvery(interval time.Duration) {
	defer close(b.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			_ = b.Flush()
		}
	}
}

// NewLogHandler is bff's log handler: JSON lines, one object each, written
// through b. Access-log lines wait in b for its flush; any other line goes
// out at once, with everything before it. Those are few (start-up,
// shutdown, warnings, errors), an operator expects to see them at once,
// and an error must not be lost when the process dies before the next
// flush. Access-log lines are formatted without slog's Record (see
// accessWriter), to the same bytes.
func NewLogHandler(b *LogBuffer, opts *slog.HandlerOptions) slog.Handler {
	return &flushingHandler{Handler: slog.NewJSONHandler(b, opts), b: b, plain: opts == nil || opts.ReplaceAttr == nil && !opts.AddSource}
}

type flushingHandler struct {
	slog.Handler
	b *LogBuffer
	// plain is true while the handler adds nothing to a record's own
	// attributes (no With, no group, no ReplaceAttr, no source), so an
	// access-log line can be written without it.
	plain bool
}

func (f *flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Message != accessMessage || r.Level > slog.LevelInfo {
		_ = f.b.Flush()
	}
	return err
}

func (f *flushingHandler) writeAccess(t time.Time, level slog.Level, l *accessLine) bool {
	if !f.plain {
		return false
	}
	buf := linePool.Get().(*[]byte)
	defer linePool.Put(buf)
	line, ok := appendAccessLine((*buf)[:0], t, level, l)
	*buf = line
	if ok {
		_, _ = f.b.Write(line)
	}
	return ok
}

func (f *flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &flushingHandler{Handler: f.Handler.WithAttrs(attrs), b: f.b}
}

func (f *flushingHandler) WithGroup(name string) slog.Handler {
	return &flushingHandler{Handler: f.Handler.WithGroup(name), b: f.b}
}
