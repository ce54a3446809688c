package telemetry

// TraceConfig says where spans go.
type TraceConfig struct {
	URL         string // OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces
	ServiceName string // "" leaves it to OTEL_RESOURCE_ATTRIBUTES, else "bff"
	// TrustTraceparent makes an incoming traceparent the parent of the
	// server span. Otherwise a browser, or anyone, could graft bff's spans
	// onto a trace of their choosing; the span only links to it.
	TrustTraceparent bool
}

// noEnd ends no span: tracing is off.
func noEnd(string) {}
