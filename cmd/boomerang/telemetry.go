package main

import (
	"context"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/metrics"
	"github.com/boomerang-dev/boomerang/internal/tracing"
	"github.com/boomerang-dev/boomerang/tenant"
)

// telemetry is what a node tells its operator about its work: metrics at
// /metrics and, when the OTEL_* environment asks for them, traces
// (docs/observability.md).
type telemetry struct {
	registry *prometheus.Registry
	metrics  *metrics.Metrics
	tracing  *tracing.Tracing // nil: tracing is off
}

// newTelemetry builds the node's registry (the Go runtime's, the
// process's and the task metrics; the web server adds its own) and the
// tracing the environment asks for.
func (m *Main) newTelemetry(ctx context.Context) error {
	tr, err := tracing.New(ctx, os.Getenv)
	if err != nil {
		return err
	}
	if tr != nil {
		m.Logger.Info("tracing on: spans are exported as the OTEL_* environment says")
	}
	registry := newRegistry()
	m.telemetry = &telemetry{registry: registry, metrics: metrics.New(registry, splitList(m.Config.MetricsTenants)), tracing: tr}
	return nil
}

// broker is what the broker's parts report their work to.
func (t *telemetry) broker() broker.Telemetry {
	return broker.Telemetry{Tracer: t.tracing.Tracer(), Observer: t.metrics}
}

// registerState adds the gauges read at each scrape: the shared
// consumers' backlog, the views' lag, the view's counts and the work in
// flight. It needs the workers and the projectors built.
func (m *Main) registerState(p projections) {
	m.telemetry.metrics.RegisterState(m.telemetry.registry, metrics.Sources{
		JetStream: m.js,
		Consumers: broker.Consumers(),
		Projectors: []metrics.Projector{
			{Stream: broker.StreamTasks, Applied: p.taskProjector.Applied},
			{Stream: tenant.Stream, Applied: p.tenantProjector.Applied},
		},
		Counts:     p.view.AllCounts,
		Attempts:   m.dispatcher.InFlight,
		Deliveries: m.deliverer.InFlight,
		Logger:     m.Logger,

		Destinations: m.dispatcher.AllLimitedDestinations,
	})
}

// shutdown exports the spans still waiting, within a few seconds.
func (t *telemetry) shutdown() error {
	if t == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return t.tracing.Shutdown(ctx)
}
