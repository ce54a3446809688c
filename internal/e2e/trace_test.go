package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"bff/internal/bfftest"
)

// receiver is an OTLP/HTTP trace receiver, as a collector runs one: it
// takes POST /v1/traces (protobuf, gzipped or not) and decodes what bff
// exported. raw keeps every request body, decompressed, so that a test
// can search all of it, names, attributes, links and resource included.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	spans    []span
	raw      [][]byte
	requests int
	conns    int
}

// span is one exported span with what the tests look at.
type span struct {
	Name, Kind        string
	Trace, ID, Parent string // hex
	Attrs, Resource   map[string]string
	Links             []string // "trace/span", hex
	Error             bool
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.requests++
		rc.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("receiver: %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "not a trace export", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		var req coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(raw, &req)
		}
		if err != nil {
			t.Errorf("receiver: undecodable export: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.add(raw, &req)
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	rc.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rc.mu.Lock()
			rc.conns++
			rc.mu.Unlock()
		}
	}
	rc.Start()
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) add(raw []byte, req *coltracepb.ExportTraceServiceRequest) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.raw = append(rc.raw, raw)
	for _, rs := range req.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				sp := span{
					Name: s.GetName(), Kind: strings.TrimPrefix(s.GetKind().String(), "SPAN_KIND_"),
					Trace: hex.EncodeToString(s.GetTraceId()), ID: hex.EncodeToString(s.GetSpanId()),
					Parent: hex.EncodeToString(s.GetParentSpanId()), Attrs: attrMap(s.GetAttributes()), Resource: res,
					Error: s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR,
				}
				for _, l := range s.GetLinks() {
					sp.Links = append(sp.Links, hex.EncodeToString(l.GetTraceId())+"/"+hex.EncodeToString(l.GetSpanId()))
				}
				rc.spans = append(rc.spans, sp)
			}
		}
	}
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = fmt.Sprint(v.GetIntValue())
		}
	}
	return m
}

// named returns the spans called name.
func (rc *receiver) named(name string) []span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []span
	for _, s := range rc.spans {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// one returns the one span called name under parent ("" for any), and
// fails the test when there is not exactly one.
func (rc *receiver) one(t *testing.T, name string, parent *span) span {
	t.Helper()
	var found []span
	for _, s := range rc.named(name) {
		if parent == nil || s.Parent == parent.ID && s.Trace == parent.Trace {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans %q under %v, want 1; all: %s", len(found), name, parent, rc.names())
	}
	return found[0]
}

func (rc *receiver) names() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var names []string
	for _, s := range rc.spans {
		names = append(names, s.Name)
	}
	return strings.Join(names, ", ")
}

// tree is the trace of root as the receiver saw it, one span a line.
func (rc *receiver) tree(root span) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var b strings.Builder
	var walk func(s span, depth int)
	walk = func(s span, depth int) {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range s.Attrs {
				if !yield(k) {
					return
				}
			}
		})
		var attrs []string
		for _, k := range keys {
			attrs = append(attrs, k+"="+s.Attrs[k])
		}
		fmt.Fprintf(&b, "%s%s [%s] span %s parent %q links %v error=%v %s\n", strings.Repeat("  ", depth), s.Name, s.Kind, s.ID, s.Parent, s.Links, s.Error, strings.Join(attrs, " "))
		for _, c := range rc.spans {
			if c.Parent == s.ID && c.Trace == s.Trace {
				walk(c, depth+1)
			}
		}
	}
	walk(root, 0)
	return b.String()
}

const (
	browserTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	browserParent = "00f067aa0ba902b7"
	traceparent   = "00-" + browserTrace + "-" + browserParent + "-01"
)

// TestTracing runs the binary with tracing on, exporting to a real
// OTLP/HTTP receiver, and follows a session: sign-in, an API call that
// refreshes the token, logout.
func TestTracing(t *testing.T) {
	bin := bfftest.Build(t)

	t.Run("spans", func(t *testing.T) {
		rc := startReceiver(t)
		d := bfftest.Deploy(t, bin, bfftest.DeploymentOptions{
			OP: bfftest.OPOptions{AccessTTL: 20 * time.Second}, // within the refresh margin at once
			Env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": rc.URL,
				"OTEL_SERVICE_NAME":           "bff-test",
			},
		})
		cb := d.LogIn()
		var cookies []string
		for _, c := range d.Jar.Cookies(d.Public) {
			cookies = append(cookies, c.Value)
		}
		api := d.Get("/api/orders/42?secret=q-123", "X-CSRF", "1", "traceparent", traceparent, "tracestate", "vendor=browser-said")
		if api.StatusCode != http.StatusOK || len(api.Header["Set-Cookie"]) == 0 {
			t.Fatalf("API call: %d, Set-Cookie %q: want 200 with the refreshed session", api.StatusCode, api.Header["Set-Cookie"])
		}
		saw := d.Upstream.Last(t)
		logout := d.Get(bfftest.LogoutURL(t, d.Get("/auth/session", "X-CSRF", "1")))
		if logout.StatusCode != http.StatusFound {
			t.Fatalf("logout: %d", logout.StatusCode)
		}
		if err := d.Stop(20 * time.Second); err != nil { // the last spans are exported on the way out
			t.Fatalf("exit: %v\n%s", err, d.Stderr.String())
		}

		server := rc.one(t, "GET /api/", nil)
		t.Logf("the proxied request with a refresh, as the receiver decoded it:\n%s", rc.tree(server))
		if server.Kind != "SERVER" || server.Attrs["http.route"] != "/api/" || server.Attrs["http.response.status_code"] != "200" {
			t.Errorf("server span %+v", server)
		}
		if server.Resource["service.name"] != "bff-test" || server.Resource["service.version"] != bfftest.Version {
			t.Errorf("resource %v: want service.name bff-test, service.version %s", server.Resource, bfftest.Version)
		}
		// The browser's traceparent is not trusted by default: a new trace,
		// linked to the browser's.
		if server.Parent != "" || server.Trace == browserTrace || !slices.Contains(server.Links, browserTrace+"/"+browserParent) {
			t.Errorf("server span parent %q trace %s links %v: want a new root linked to the browser's span", server.Parent, server.Trace, server.Links)
		}
		if !strings.Contains(d.Stdout.String(), `"route":"/api/","status":200`) || !strings.Contains(d.Stdout.String(), `"trace_id":"`+server.Trace+`"`) {
			t.Errorf("no access-log line names the trace %s", server.Trace)
		}
		refresh := rc.one(t, "refresh", &server)
		rc.one(t, "idp token", &refresh)
		up := rc.one(t, "upstream /api/", &server)
		if up.Kind != "CLIENT" || up.Attrs["http.response.status_code"] != "200" || up.Attrs["server.address"] != "127.0.0.1" {
			t.Errorf("upstream span %+v", up)
		}
		if want := "00-" + server.Trace + "-" + up.ID + "-01"; saw.Header.Get("Traceparent") != want {
			t.Errorf("upstream got traceparent %q, want %q (bff's upstream span)", saw.Header.Get("Traceparent"), want)
		}
		if ts := saw.Header.Get("Tracestate"); ts != "" {
			t.Errorf("upstream got the browser's tracestate %q", ts)
		}
		callback := rc.one(t, "GET /auth/callback", nil)
		rc.one(t, "idp token", &callback)
		rc.one(t, "idp userinfo", &callback)
		rc.one(t, "idp revocation", ptr(rc.one(t, "GET /auth/logout", nil)))
		rc.one(t, "GET /auth/login", nil)

		secrets := append([]string{"q-123", "/orders/42", "browser-said", cb.Query().Get("code"), cb.Query().Get("state"), d.OP.ClientSecret, d.Env["BFF_COOKIE_KEYS"]}, cookies...)
		secrets = append(secrets, d.OP.IssuedTokens()...)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, raw := range rc.raw {
			for _, s := range secrets {
				if s != "" && bytes.Contains(raw, []byte(s)) {
					t.Errorf("an exported span holds %q", s[:min(len(s), 12)])
				}
			}
		}
	})

	t.Run("trusted traceparent", func(t *testing.T) {
		rc := startReceiver(t)
		d := bfftest.Deploy(t, bin, bfftest.DeploymentOptions{Env: map[string]string{
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": rc.URL + "/v1/traces",
			"BFF_TRUST_TRACEPARENT":              "true",
		}})
		d.LogIn()
		d.Get("/api/x", "X-CSRF", "1", "traceparent", traceparent)
		d.Upstream.Last(t)
		if err := d.Stop(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		server := rc.one(t, "GET /api/", nil)
		if server.Trace != browserTrace || server.Parent != browserParent {
			t.Errorf("trusted: server span in trace %s under %q, want the browser's %s under %s", server.Trace, server.Parent, browserTrace, browserParent)
		}
		if s := rc.one(t, "GET /auth/login", nil); s.Resource["service.name"] != "bff" {
			t.Errorf("service.name %q, want the default bff", s.Resource["service.name"])
		}
	})

	// OTEL_TRACES_EXPORTER=none wins over an endpoint: no span, not even a
	// connection, and the request passes through as without tracing.
	t.Run("off", func(t *testing.T) {
		rc := startReceiver(t)
		d := bfftest.Deploy(t, bin, bfftest.DeploymentOptions{Env: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": rc.URL,
			"OTEL_TRACES_EXPORTER":        "none",
		}})
		d.LogIn()
		d.Get("/api/x", "X-CSRF", "1", "traceparent", traceparent)
		if got := d.Upstream.Last(t).Header.Get("Traceparent"); got != traceparent {
			t.Errorf("tracing off: upstream got traceparent %q, want the browser's, untouched", got)
		}
		if err := d.Stop(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if rc.conns > 0 || rc.requests > 0 {
			t.Errorf("tracing off: the receiver got %d connections, %d requests", rc.conns, rc.requests)
		}
	})
}

func ptr[T any](v T) *T { return &v }
