package lambda

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"bff/internal/telemetry"
)

// TestFunctionURLLogsEachInvocation: Lambda freezes a function between
// invocations, so a log line held back in memory waits for the next one,
// and is lost if the environment is shut down first. Each invocation's
// access-log line must be out by the time its result is: the function is
// frozen as soon as the result is back, for longer than any flush
// interval, and the line must reach the output meanwhile.
func TestFunctionURLLogsEachInvocation(t *testing.T) {
	eachMode(t, func(t *testing.T, bin string, buffered bool) {
		f := deploy(t, bin, options{Buffered: buffered, Discovery: true})
		f.get(t, "/healthz") // the cold start, logged apart
		r := f.get(t, "/no-such-page")
		thaw := f.Lambda.Freeze(t)
		id := r.Header.Get(telemetry.RequestIDHeader)
		if r.StatusCode != http.StatusNotFound || id == "" {
			t.Fatalf("%d, request id %q; want 404 and an id", r.StatusCode, id)
		}
		f.Lambda.WaitFor(t, regexp.MustCompile(`"msg":"request".*"request_id":"`+regexp.QuoteMeta(id)+`"`), 3*time.Second)
		thaw()
		if r := f.get(t, "/healthz"); r.StatusCode != http.StatusOK {
			t.Errorf("after the freeze: %d", r.StatusCode)
		}
	})
}
