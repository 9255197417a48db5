package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/boomerang-dev/boomerang/broker"
)

// DefaultStateTimeout bounds what one scrape waits for JetStream.
const DefaultStateTimeout = 2 * time.Second

// Sources are what the scrape-time gauges read. Any may be left out: its
// gauges are then not reported.
type Sources struct {
	// JetStream answers the consumers' and the streams' state.
	JetStream jetstream.JetStream
	// Consumers are the shared durable consumers whose backlog is reported.
	Consumers []broker.Consumer
	// Projectors are this node's views of streams, whose lag is reported.
	Projectors []Projector
	// Counts returns every tenant's live counts (broker.View.AllCounts).
	Counts func() (map[string]broker.Counts, error)
	// Attempts and Deliveries return the calls to targets and the webhook
	// deliveries running on this node now.
	Attempts, Deliveries func() int
	// Destinations returns the target hosts whose adaptive concurrency
	// is limited now (broker.Dispatcher.AllLimitedDestinations).
	Destinations func() []broker.DestinationLimit
	// Timeout bounds what one scrape waits for JetStream
	// (DefaultStateTimeout when zero): what has not answered by then is
	// left out of that scrape.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Projector is a view of a stream, kept by a projector on this node.
type Projector struct {
	Stream string
	// Applied returns the last stream sequence the view has applied.
	Applied func() uint64
}

var (
	descPending = prometheus.NewDesc("boomerang_consumer_pending",
		"Messages a shared consumer has not handed out yet (its backlog), as JetStream reports it: the same on every node.", []string{"consumer"}, nil)
	descAckPending = prometheus.NewDesc("boomerang_consumer_ack_pending",
		"Messages a shared consumer has handed out and awaits the acknowledgement of (work running, on any node), as JetStream reports it.", []string{"consumer"}, nil)
	descLag = prometheus.NewDesc("boomerang_projector_lag_events",
		"How far this node's view is behind a stream: the stream's last sequence less the last one the view applied.", []string{"stream"}, nil)
	descWaiting = prometheus.NewDesc("boomerang_tasks_waiting",
		"Tasks waiting for an attempt (pending: first attempt, or a delay; retrying: a backoff), as this node's view has them.", []string{"tenant"}, nil)
	descDead = prometheus.NewDesc("boomerang_dead_letters",
		"Tasks whose webhook is dead-lettered (every delivery failed), as this node's view has them.", []string{"tenant"}, nil)
	descAttemptsInFlight = prometheus.NewDesc("boomerang_attempts_in_flight",
		"Calls to targets running on this node now.", nil, nil)
	descDeliveriesInFlight = prometheus.NewDesc("boomerang_webhook_deliveries_in_flight",
		"Webhook deliveries running on this node now.", nil, nil)
)

// state is the collector of the scrape-time gauges.
type state struct {
	src     Sources
	tenants func(string) string // the tenant label of an id
	labels  []string            // every tenant label, reported even at zero
}

// RegisterState registers on reg the gauges read from src at each scrape,
// with m's tenant labels.
func (m *Metrics) RegisterState(reg prometheus.Registerer, src Sources) {
	if src.Timeout <= 0 {
		src.Timeout = DefaultStateTimeout
	}
	if src.Logger == nil {
		src.Logger = slog.New(slog.DiscardHandler)
	}
	reg.MustRegister(&state{src: src, tenants: m.Tenant, labels: m.tenantLabels()})
}

// Describe sends the gauges' descriptions.
func (s *state) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descAckPending, descLag, descWaiting, descDead, descAttemptsInFlight, descDeliveriesInFlight,
		descDestLimit, descDestInFlight, descDestWaiting, descDestPaused} {
		ch <- d
	}
}

// Collect reads the sources and sends the gauges. JetStream is asked
// everything at once, within the timeout.
func (s *state) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), s.src.Timeout)
	defer cancel()
	var wg sync.WaitGroup
	if s.src.JetStream != nil {
		for _, c := range s.src.Consumers {
			wg.Go(func() { s.collectConsumer(ctx, ch, c) })
		}
		for _, p := range s.src.Projectors {
			wg.Go(func() { s.collectLag(ctx, ch, p) })
		}
	}
	s.collectCounts(ch)
	s.collectDestinations(ch)
	if s.src.Attempts != nil {
		ch <- prometheus.MustNewConstMetric(descAttemptsInFlight, prometheus.GaugeValue, float64(s.src.Attempts()))
	}
	if s.src.Deliveries != nil {
		ch <- prometheus.MustNewConstMetric(descDeliveriesInFlight, prometheus.GaugeValue, float64(s.src.Deliveries()))
	}
	wg.Wait()
}

func (s *state) collectConsumer(ctx context.Context, ch chan<- prometheus.Metric, c broker.Consumer) {
	cons, err := s.src.JetStream.Consumer(ctx, c.Stream, c.Name)
	if err != nil {
		s.src.Logger.Debug("metrics: consumer state unavailable", "consumer", c.Name, "err", err)
		return
	}
	info := cons.CachedInfo()
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(info.NumPending), c.Name)
	ch <- prometheus.MustNewConstMetric(descAckPending, prometheus.GaugeValue, float64(info.NumAckPending), c.Name)
}

func (s *state) collectLag(ctx context.Context, ch chan<- prometheus.Metric, p Projector) {
	stream, err := s.src.JetStream.Stream(ctx, p.Stream)
	if err != nil {
		s.src.Logger.Debug("metrics: stream state unavailable", "stream", p.Stream, "err", err)
		return
	}
	// Applied is read after the stream's state: the lag is never negative
	// but for a view ahead of a replica that lags.
	last, applied := stream.CachedInfo().State.LastSeq, p.Applied()
	lag := 0.0
	if last > applied {
		lag = float64(last - applied)
	}
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, lag, p.Stream)
}

// collectCounts sums the tenants' live counts by tenant label.
func (s *state) collectCounts(ch chan<- prometheus.Metric) {
	if s.src.Counts == nil {
		return
	}
	all, err := s.src.Counts()
	if err != nil {
		s.src.Logger.Warn("metrics: view counts unavailable", "err", err)
		return
	}
	waiting, dead := map[string]int{}, map[string]int{}
	for _, t := range s.labels {
		waiting[t], dead[t] = 0, 0
	}
	for tenantID, c := range all {
		t := s.tenants(tenantID)
		waiting[t] += c.Status[broker.StatusPending] + c.Status[broker.StatusRetrying]
		dead[t] += c.Webhook[broker.WebhookDead]
	}
	for t, n := range waiting {
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(n), t)
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.GaugeValue, float64(dead[t]), t)
	}
}
