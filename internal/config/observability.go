package config

import (
	"errors"
	"net/url"
	"strings"
)

// Tracing is the OpenTelemetry set-up, from the standard OTEL_* variables
// that decide whether bff traces at all. The SDK reads the others itself
// (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _COMPRESSION, OTEL_TRACES_SAMPLER,
// OTEL_BSP_*, OTEL_RESOURCE_ATTRIBUTES, ...).
type Tracing struct {
	// TracesURL is where spans go over OTLP/HTTP; "" is tracing off, and
	// then bff opens no connection to any collector.
	TracesURL string
	// ServiceName is OTEL_SERVICE_NAME; "" leaves it to the resource
	// (OTEL_RESOURCE_ATTRIBUTES, else "bff").
	ServiceName string
	// TrustTraceparent makes an incoming traceparent the parent of bff's
	// server span; otherwise it is only linked.
	TrustTraceparent bool

	endpoint, tracesEndpoint, exporter string
	disabled                           bool
}

// defaultOTLPTraces is the OTLP/HTTP default the specification gives,
// for OTEL_TRACES_EXPORTER=otlp with no endpoint.
const defaultOTLPTraces = "http://localhost:4318/v1/traces"

// observabilityVariables are the tracing variables: the standard OTEL_*
// ones bff decides on, and its own.
func observabilityVariables() []Variable {
	return []Variable{
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT",
			Help: "OTLP/HTTP collector base URL, e.g. http://otel-collector:4318; turns tracing on (spans go to its /v1/traces)",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.Tracing.endpoint, err = otlpURL(v)
				return err
			}},
		{Name: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
			Help: "OTLP/HTTP URL for spans, used as is; turns tracing on and wins over OTEL_EXPORTER_OTLP_ENDPOINT",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.Tracing.tracesEndpoint, err = otlpURL(v)
				return err
			}},
		{Name: "OTEL_TRACES_EXPORTER",
			Help: "otlp turns tracing on (to http://localhost:4318 unless an endpoint is set); none turns it off",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.Tracing.exporter = strings.ToLower(strings.TrimSpace(v))
				switch c.Tracing.exporter {
				case "", "otlp", "none":
					return nil
				}
				return errors.New("must be otlp or none: bff exports traces over OTLP/HTTP only")
			}},
		{Name: "OTEL_EXPORTER_OTLP_PROTOCOL",
			Help:  "http/protobuf, the only protocol bff speaks",
			parse: otlpProtocol},
		{Name: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
			Help:  "http/protobuf, the only protocol bff speaks",
			parse: otlpProtocol},
		{Name: "OTEL_SDK_DISABLED", Default: "false",
			Help: "true turns tracing off whatever else is set",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.Tracing.disabled, err = boolean(v)
				return err
			}},
		{Name: "OTEL_SERVICE_NAME",
			Help: "the service name on every span; default bff",
			parse: func(c *Config, v string, _ func(string) string) error {
				c.Tracing.ServiceName = strings.TrimSpace(v)
				return nil
			}},
		{Name: "BFF_TRUST_TRACEPARENT", Default: "false",
			Help: "true makes an incoming W3C traceparent the parent of bff's span; otherwise it is only linked",
			parse: func(c *Config, v string, _ func(string) string) (err error) {
				c.Tracing.TrustTraceparent, err = boolean(v)
				return err
			}},
	}
}

// resolve decides whether bff traces, and where to: the traces endpoint,
// else the base endpoint's /v1/traces, else the default when the exporter
// is named. OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true turn
// tracing off, endpoints or not, as the specification says.
func (t *Tracing) resolve() {
	switch {
	case t.disabled || t.exporter == "none":
		t.TracesURL = ""
	case t.tracesEndpoint != "":
		t.TracesURL = t.tracesEndpoint
	case t.endpoint != "":
		t.TracesURL = strings.TrimRight(t.endpoint, "/") + "/v1/traces"
	case t.exporter == "otlp":
		t.TracesURL = defaultOTLPTraces
	}
}

func otlpURL(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("must be an http(s) URL such as http://otel-collector:4318, without credentials or query")
	}
	return v, nil
}

func otlpProtocol(_ *Config, v string, _ func(string) string) error {
	if v == "" || v == "http/protobuf" {
		return nil
	}
	return errors.New("must be http/protobuf: bff does not export over gRPC or JSON")
}
