package tracing

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestEnabledOnlyWhenTheEnvironmentAsks(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, false},
		{"an OTLP endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"a traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"an exporter named", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, true},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, false},
		{"SDK not disabled", map[string]string{"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, true},
		{"only metrics asked for", map[string]string{"OTEL_METRICS_EXPORTER": "otlp"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := Enabled(func(k string) string { return c.env[k] }); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestOffIsNil: tracing that the environment does not ask for is a nil
// *Tracing, whose tracer and propagator are nil and whose shutdown does
// nothing.
func TestOffIsNil(t *testing.T) {
	t.Parallel()
	tr, err := New(context.Background(), func(string) string { return "" })
	if err != nil || tr != nil {
		t.Fatalf("got %v, %v; want nil, nil", tr, err)
	}
	if tr.Tracer() != nil || tr.Propagator() != nil || tr.Shutdown(context.Background()) != nil {
		t.Error("nil tracing is not off")
	}
}

// TestSpansReachTheExporterAtShutdown: spans are batched, and a shutdown
// exports what waits, with the service named boomerang.
func TestSpansReachTheExporterAtShutdown(t *testing.T) {
	t.Parallel()
	exp := &keptSpans{InMemoryExporter: tracetest.NewInMemoryExporter()}
	tr, err := WithExporter(context.Background(), exp)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer().Start(context.Background(), "work")
	span.End()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "work" {
		t.Fatalf("got %v, want the one span", spans)
	}
	if got, _ := spans[0].Resource.Set().Value("service.name"); got.AsString() != ServiceName {
		t.Errorf("service.name = %q, want %q", got.AsString(), ServiceName)
	}
	if !exp.shut {
		t.Error("the exporter was not shut down")
	}
}

// keptSpans keeps its spans past its shutdown, which it records.
type keptSpans struct {
	*tracetest.InMemoryExporter
	shut bool
}

func (k *keptSpans) Shutdown(context.Context) error {
	k.shut = true
	return nil
}
