// Package metrics is a node's Prometheus metrics about its tasks: counters
// and histograms that the broker's work feeds through broker.Observer
// (this file), and gauges read when /metrics is scraped from JetStream,
// the projectors and the view (state.go). Everything registers on the
// registry the node passes in; nothing uses the default registry.
//
// Cardinality is bounded: a series has a tenant label only for the
// tenants the operator names (--metrics-tenants); every other tenant
// counts under tenant="other". A fixed list, rather than a top-N, keeps a
// tenant's series from appearing and vanishing as its rank moves, and is
// the same on every node, so series add up across nodes.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/boomerang-dev/boomerang/broker"
)

// OtherTenants is the tenant label of every tenant not named to be broken
// out.
const OtherTenants = "other"

// Label values the counters start with, so that their series exist (at
// zero) before the first event.
var (
	finishOutcomes   = []broker.Status{broker.StatusSucceeded, broker.StatusFailed, broker.StatusCanceled}
	attemptOutcomes  = []broker.Outcome{broker.OutcomeSucceeded, broker.OutcomeRetry, broker.OutcomeFailed, broker.OutcomeCanceled}
	statusClasses    = []string{"2xx", "3xx", "4xx", "5xx", "none"}
	deliveryOutcomes = []string{"delivered", "retry", "dead"}
)

// Metrics counts what the node's API and workers do; it implements
// broker.Observer. Its methods are safe for concurrent use.
type Metrics struct {
	tenants map[string]bool // broken out by their own tenant label

	created          *prometheus.CounterVec // tenant
	finished         *prometheus.CounterVec // tenant, outcome
	attempts         *prometheus.CounterVec // tenant, outcome, status_class
	attemptSeconds   prometheus.Histogram
	deliveries       *prometheus.CounterVec // tenant, outcome
	deliverySeconds  prometheus.Histogram
	redelivered      *prometheus.CounterVec // consumer
	rateLimited      *prometheus.CounterVec // tenant
	deliveryStatuses *prometheus.CounterVec // tenant, status_class
}

var _ broker.Observer = (*Metrics)(nil)

// New returns the metrics, registered on reg, breaking out the tenants
// with these ids.
func New(reg prometheus.Registerer, tenants []string) *Metrics {
	m := &Metrics{tenants: map[string]bool{}}
	for _, t := range tenants {
		m.tenants[t] = true
	}
	m.created = counter(reg, "boomerang_tasks_created_total", "Tasks created through this node (an idempotent repeat creates none).", "tenant")
	m.finished = counter(reg, "boomerang_tasks_finished_total", "Tasks whose end this node recorded, by outcome: succeeded, failed or canceled.", "tenant", "outcome")
	m.attempts = counter(reg, "boomerang_attempts_total", "Calls to targets this node made, by outcome (succeeded, retry, failed, canceled) and the class of the target's status (2xx…5xx, none: no answer).", "tenant", "outcome", "status_class")
	m.deliveries = counter(reg, "boomerang_webhook_deliveries_total", "Webhook deliveries this node made, by outcome: delivered, retry (failed, another follows) or dead (failed, the last one).", "tenant", "outcome")
	m.deliveryStatuses = counter(reg, "boomerang_webhook_responses_total", "Webhook deliveries this node made, by the class of the receiver's status (2xx…5xx, none: no answer).", "tenant", "status_class")
	m.redelivered = counter(reg, "boomerang_consumer_redelivered_total", "Messages a shared consumer handed this node again: work whose acknowledgement timed out, or that a node gave back.", "consumer")
	m.rateLimited = counter(reg, "boomerang_rate_limited_total", "Task creates this node refused with 429 because the tenant's create rate was spent.", "tenant")
	m.attemptSeconds = histogram(reg, "boomerang_attempt_duration_seconds", "How long this node's calls to targets took.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300})
	m.deliverySeconds = histogram(reg, "boomerang_webhook_delivery_duration_seconds", "How long this node's webhook deliveries took.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30})
	for _, consumer := range broker.Consumers() {
		m.redelivered.WithLabelValues(consumer.Name)
	}
	for _, t := range m.tenantLabels() {
		m.initTenant(t)
	}
	return m
}

// initTenant makes the tenant's series exist at zero.
func (m *Metrics) initTenant(t string) {
	m.created.WithLabelValues(t)
	m.rateLimited.WithLabelValues(t)
	for _, o := range finishOutcomes {
		m.finished.WithLabelValues(t, string(o))
	}
	for _, o := range attemptOutcomes {
		for _, class := range statusClasses {
			m.attempts.WithLabelValues(t, string(o), class)
		}
	}
	for _, o := range deliveryOutcomes {
		m.deliveries.WithLabelValues(t, o)
	}
	for _, class := range statusClasses {
		m.deliveryStatuses.WithLabelValues(t, class)
	}
}

func counter(reg prometheus.Registerer, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	reg.MustRegister(c)
	return c
}

func histogram(reg prometheus.Registerer, name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	reg.MustRegister(h)
	return h
}

// tenantLabels lists every tenant label value: the named tenants and
// OtherTenants.
func (m *Metrics) tenantLabels() []string {
	out := []string{OtherTenants}
	for t := range m.tenants {
		out = append(out, t)
	}
	return out
}

// Tenant returns the tenant label of tenantID: the id when it is broken
// out, OtherTenants otherwise.
func (m *Metrics) Tenant(tenantID string) string {
	if m.tenants[tenantID] {
		return tenantID
	}
	return OtherTenants
}

// StatusClass is the status_class label of an HTTP status code: "2xx" to
// "5xx", "none" for no answer (0), "other" for anything else.
func StatusClass(code int) string {
	switch {
	case code == 0:
		return "none"
	case code >= 100 && code < 600:
		return strconv.Itoa(code/100) + "xx"
	default:
		return "other"
	}
}

// TaskCreated counts a new task.
func (m *Metrics) TaskCreated(tenantID string) { m.created.WithLabelValues(m.Tenant(tenantID)).Inc() }

// TaskFinished counts a task's end.
func (m *Metrics) TaskFinished(tenantID string, status broker.Status) {
	m.finished.WithLabelValues(m.Tenant(tenantID), string(status)).Inc()
}

// AttemptMade counts a call to a target and observes how long it took.
func (m *Metrics) AttemptMade(tenantID string, outcome broker.Outcome, statusCode int, took time.Duration) {
	m.attempts.WithLabelValues(m.Tenant(tenantID), string(outcome), StatusClass(statusCode)).Inc()
	m.attemptSeconds.Observe(took.Seconds())
}

// DeliveryMade counts a webhook delivery and observes how long it took.
func (m *Metrics) DeliveryMade(tenantID, outcome string, statusCode int, took time.Duration) {
	t := m.Tenant(tenantID)
	m.deliveries.WithLabelValues(t, outcome).Inc()
	m.deliveryStatuses.WithLabelValues(t, StatusClass(statusCode)).Inc()
	m.deliverySeconds.Observe(took.Seconds())
}

// Redelivered counts a message a consumer handed this node again.
func (m *Metrics) Redelivered(consumer string) { m.redelivered.WithLabelValues(consumer).Inc() }

// RateLimited counts a create refused by the tenant's create rate.
func (m *Metrics) RateLimited(tenantID string) {
	m.rateLimited.WithLabelValues(m.Tenant(tenantID)).Inc()
}
