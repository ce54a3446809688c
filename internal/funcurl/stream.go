package funcurl

import (
	"io"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// stream serves r with h as a response stream: the status and headers go
// out as the stream's prelude once h commits them, and the body as h
// writes it, so each flushed event of a stream reaches the browser at once.
func (a *adapter) stream(h http.Handler, r *http.Request) *events.LambdaFunctionURLStreamingResponse {
	pr, pw := io.Pipe()
	w := &streamWriter{
		header: make(http.Header),
		pipe:   pw,
		ready:  make(chan struct{}),
		resp:   &events.LambdaFunctionURLStreamingResponse{Body: pr},
	}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				if w.committed {
					pw.CloseWithError(errAborted)
				} else {
					clear(w.header)
					a.recovered(v, w)
				}
			}
			w.WriteHeader(http.StatusOK) // for a handler that wrote nothing
			pw.Close()
		}()
		h.ServeHTTP(w, r)
	}()
	<-w.ready
	return w.resp
}

// streamWriter is the http.ResponseWriter of a streamed invocation. Writes
// go straight into the pipe the runtime API client reads, so there is
// nothing to flush but the prelude.
type streamWriter struct {
	header    http.Header
	pipe      *io.PipeWriter
	ready     chan struct{} // closed when the prelude is set
	resp      *events.LambdaFunctionURLStreamingResponse
	committed bool
}

func (w *streamWriter) Header() http.Header { return w.header }

// WriteHeader sets the prelude from the headers as they are now. A
// function URL has no interim responses, so a 1xx is dropped.
func (w *streamWriter) WriteHeader(code int) {
	if w.committed || code >= 100 && code < 200 {
		return
	}
	w.committed = true
	w.resp.StatusCode = code
	w.resp.Headers, w.resp.Cookies = flatten(w.header)
	close(w.ready)
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pipe.Write(p)
}

// Flush sends the prelude if it has not gone yet, as net/http's Flush sends
// the headers.
func (w *streamWriter) Flush() { w.WriteHeader(http.StatusOK) }
