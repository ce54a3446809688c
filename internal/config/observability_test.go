package config

import (
	"strings"
	"testing"
)

// TestTracingSwitch: tracing is on exactly when an OTLP endpoint is set or
// the exporter is named, and none or the SDK switch turn it off whatever
// else is set.
func TestTracingSwitch(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"OTEL_SERVICE_NAME": "shop-bff"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example.com/otlp/"}, "https://collector.example.com/otlp/v1/traces"},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom"}, "http://collector:4318/custom"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/v1/traces"}, "http://b:4318/v1/traces"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, "http://localhost:4318/v1/traces"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "NONE", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ""},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/traces"},
	} {
		m := goodEnv()
		for k, v := range tc.env {
			m[k] = v
		}
		c, err := Load(env(m))
		if err != nil {
			t.Errorf("%v: %v", tc.env, err)
			continue
		}
		if c.Tracing.TracesURL != tc.want {
			t.Errorf("%v: traces URL %q, want %q", tc.env, c.Tracing.TracesURL, tc.want)
		}
		// The Worker decides with TracingOf, whatever else is wrong.
		delete(m, "BFF_ISSUER")
		if got := TracingOf(env(m)).TracesURL; got != tc.want {
			t.Errorf("%v: TracingOf says %q, want %q", tc.env, got, tc.want)
		}
	}
	m := goodEnv()
	m["OTEL_SERVICE_NAME"], m["BFF_TRUST_TRACEPARENT"] = "shop-bff", "true"
	if c, err := Load(env(m)); err != nil || c.Tracing.ServiceName != "shop-bff" || !c.Tracing.TrustTraceparent {
		t.Errorf("service name and trust: %+v %v", c.Tracing, err)
	}
}

// TestObservabilityVariablesNamed sets each of these variables wrong at
// once: the error names every one.
func TestObservabilityVariablesNamed(t *testing.T) {
	m := goodEnv()
	bad := map[string]string{
		"BFF_CORS_HEADERS":                   "X Bad",
		"BFF_TRUST_TRACEPARENT":              "perhaps",
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "collector:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector/v1/traces",
		"OTEL_TRACES_EXPORTER":               "console",
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "grpc",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
		"OTEL_SDK_DISABLED":                  "maybe",
	}
	for k, v := range bad {
		m[k] = v
	}
	_, err := Load(env(m))
	if err == nil {
		t.Fatal("accepted")
	}
	for name := range bad {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}
