package funcurl

import (
	"bytes"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"bff/internal/problem"
)

// MaxBuffered bounds a buffered response's body. Lambda refuses a result
// over 6 MB, and base64 makes a binary body a third longer.
const MaxBuffered = 4 << 20

// buffered serves r with h into one result. A binary body goes back
// base64-encoded, so that no byte of it is lost to JSON's strings.
func (a *adapter) buffered(h http.Handler, r *http.Request) *events.LambdaFunctionURLResponse {
	w := &bufferWriter{header: make(http.Header)}
	func() {
		defer func() {
			if v := recover(); v != nil {
				w.reset()
				a.recovered(v, w)
			}
		}()
		h.ServeHTTP(w, r)
	}()
	if w.tooLarge {
		w.reset()
		problem.Write(w, http.StatusBadGateway, "Bad gateway", "The response is too large for a buffered function URL.")
	}
	w.WriteHeader(http.StatusOK)
	res := &events.LambdaFunctionURLResponse{StatusCode: w.status, Headers: w.headers, Cookies: w.cookies}
	body := w.body.Bytes()
	switch {
	case len(body) == 0:
	case textual(w.headers["Content-Type"]) && utf8.Valid(body):
		res.Body = string(body)
	default:
		res.Body = base64.StdEncoding.EncodeToString(body)
		res.IsBase64Encoded = true
	}
	return res
}

var errTooLarge = errors.New("response too large for a buffered function URL")

// bufferWriter is the http.ResponseWriter of a buffered invocation.
type bufferWriter struct {
	header   http.Header
	status   int
	headers  map[string]string
	cookies  []string
	body     bytes.Buffer
	tooLarge bool
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.status != 0 || code >= 100 && code < 200 {
		return
	}
	w.status = code
	w.headers, w.cookies = flatten(w.header)
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(p) > MaxBuffered {
		w.tooLarge = true
		return 0, errTooLarge
	}
	return w.body.Write(p)
}

// Flush has nothing to send before the end; it exists so that a handler
// that flushes (an event stream) is not refused.
func (w *bufferWriter) Flush() { w.WriteHeader(http.StatusOK) }

// reset forgets everything written, for an error in its place.
func (w *bufferWriter) reset() {
	*w = bufferWriter{header: make(http.Header)}
}

// textual reports whether a body of this Content-Type is text, which a
// result may carry as it is.
func textual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript", "application/x-www-form-urlencoded":
		return true
	}
	return false
}
