package broker

import (
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry is what the broker tells about its work: spans of a task's
// create, attempts and webhook deliveries (trace.go), and counts for
// metrics. The zero value tells nothing and costs nothing.
type Telemetry struct {
	// Tracer starts the spans; nil starts none, and the broker then puts
	// no trace context on the messages it publishes.
	Tracer trace.Tracer
	// Observer hears what is done, to count it; nil hears nothing.
	Observer Observer
}

// Observer hears what this node's API writes and workers do, for metrics
// (package internal/metrics implements it for Prometheus). Its methods
// are called on the hot path, from many goroutines: they must be quick
// and must not block.
type Observer interface {
	// TaskCreated is called once a new task is stored; not for a repeat
	// of an idempotent create.
	TaskCreated(tenantID string)
	// TaskFinished is called once a task's end is stored: StatusSucceeded,
	// StatusFailed or StatusCanceled.
	TaskFinished(tenantID string, status Status)
	// AttemptMade is called after each call to a target, with its outcome
	// as recorded, the target's status code (0 when it gave no answer) and
	// how long the call took. An attempt abandoned at shutdown is not
	// recorded, and not reported: it is made again.
	AttemptMade(tenantID string, outcome Outcome, statusCode int, took time.Duration)
	// DeliveryMade is called after each webhook delivery, with its outcome
	// as recorded: "delivered", "retry" or "dead" (the last one failed).
	DeliveryMade(tenantID, outcome string, statusCode int, took time.Duration)
	// Redelivered is called for each message a durable consumer hands this
	// node again (JetStream's delivery count above one): work whose
	// acknowledgement timed out, or that was given back.
	Redelivered(consumer string)
}

// nopObserver hears nothing.
type nopObserver struct{}

func (nopObserver) TaskCreated(string)                              {}
func (nopObserver) TaskFinished(string, Status)                     {}
func (nopObserver) AttemptMade(string, Outcome, int, time.Duration) {}
func (nopObserver) DeliveryMade(string, string, int, time.Duration) {}
func (nopObserver) Redelivered(string)                              {}
func (t Telemetry) observer() Observer {
	if t.Observer == nil {
		return nopObserver{}
	}
	return t.Observer
}

// Consumer names a durable consumer the nodes share.
type Consumer struct {
	Stream, Name string
}

// Consumers lists the durable consumers EnsureStreams makes, for metrics
// that read their state.
func Consumers() []Consumer {
	return []Consumer{
		{StreamTasks, consumerDispatch}, {StreamSchedules, consumerDispatchDue},
		{StreamTasks, consumerDeliver}, {StreamSchedules, consumerDeliverDue},
		{StreamSchedules, consumerWake}, {StreamSchedules, consumerPrune},
		{StreamSchedules, consumerFire}, {StreamSchedules, consumerKeyAdmit},
	}
}

// inFlight counts the calls a worker has running.
type inFlight struct{ n atomic.Int64 }

func (f *inFlight) enter()    { f.n.Add(1) }
func (f *inFlight) leave()    { f.n.Add(-1) }
func (f *inFlight) load() int { return int(f.n.Load()) }

// InFlight returns how many calls to targets this dispatcher is making now.
func (d *Dispatcher) InFlight() int { return d.calls.load() }

// InFlight returns how many webhook deliveries this deliverer is making now.
func (d *Deliverer) InFlight() int { return d.calls.load() }

// AllCounts returns every tenant's live counts (see Counts), read in one
// transaction: for metrics, which sum them.
func (v *View) AllCounts() (map[string]Counts, error) {
	out := map[string]Counts{}
	err := v.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketTasks)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(name []byte) error {
			counters := root.Bucket(name).Bucket(bucketCounters)
			if counters == nil {
				return nil
			}
			data := counters.Get(countersKey)
			if data == nil {
				return nil
			}
			c := Counts{Status: map[Status]int{}, Webhook: map[WebhookStatus]int{}}
			if err := decodeCounts(data, &c); err != nil {
				return err
			}
			out[string(name)] = c
			return nil
		})
	})
	return out, err
}
