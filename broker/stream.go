package broker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/jsensure"
)

// Stream and consumer names.
const (
	// StreamTasks is the event log of every task: task.<tenant>.<kind>, and
	// task.<tenant>.<task>.<kind> for the events read back by task (see
	// Subjects in subject.go).
	StreamTasks = "BOOMERANG_TASKS"
	// StreamSchedules holds pending schedules (sched.>), parked waits
	// (sched.park.*) and the due messages schedules fire (due.>); a work
	// queue, so fired messages go once acked.
	StreamSchedules = "BOOMERANG_SCHEDULES"

	consumerDispatch    = "dispatch"
	consumerDispatchDue = "dispatch-due"
	consumerDeliver     = "deliver"
	consumerDeliverDue  = "deliver-due"
	consumerWake        = "wake"
)

// StreamOptions configures the streams.
type StreamOptions struct {
	// Replicas is the replication factor: 1 embedded, 3 in a cluster.
	Replicas int
	// TaskRetention is how long task events stay in the log; zero keeps them
	// forever. Waiting work does not depend on it: due messages carry all
	// they need.
	TaskRetention time.Duration
	// AckWait is how long a consumer waits for an acknowledgement before it
	// redelivers; running attempts extend it with in-progress signals.
	AckWait time.Duration
	// Logger tells what the start waits for (a stream's leader, a
	// cluster's peers); nil logs nothing.
	Logger *slog.Logger
}

func (o StreamOptions) withDefaults() StreamOptions {
	if o.Replicas < 1 {
		o.Replicas = 1
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	return o
}

// EnsureStreams creates or updates the task and schedule streams and the
// durable consumers that every node shares, and waits until each stream
// has a leader. Nodes may call it at the same moment on a fresh cluster:
// see internal/jsensure for how that is made safe.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opts StreamOptions) error {
	opts = opts.withDefaults()
	streams := []jetstream.StreamConfig{{
		Name:        StreamTasks,
		Description: "Boomerang task events: the system of record",
		Subjects:    []string{"task.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    opts.Replicas,
		MaxAge:      opts.TaskRetention,
		Discard:     jetstream.DiscardOld,
		// Direct gets let a node read one task's event from the stream
		// without a round through the JetStream API's queue.
		AllowDirect: true,
	}, {
		Name:              StreamSchedules,
		Description:       "Boomerang schedules: tasks and webhooks waiting for their time",
		Subjects:          []string{"sched.>", "due.>"},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           jetstream.FileStorage,
		Replicas:          opts.Replicas,
		AllowMsgSchedules: true,
		AllowRollup:       true,
		// An idle key's state expires (keys_store.go).
		AllowMsgTTL: true,
		Discard:     jetstream.DiscardOld,
		// Waking a bucket reads its parked waits one by one.
		AllowDirect: true,
	}}
	for _, cfg := range streams {
		if _, err := jsensure.Stream(ctx, js, cfg, opts.Logger); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	consumers := []struct {
		stream string
		cfg    jetstream.ConsumerConfig
	}{
		{StreamTasks, consumerConfig(consumerDispatch, opts, eventFilters(KindCreated)...)},
		{StreamSchedules, consumerConfig(consumerDispatchDue, opts, dueSubject(dueTask, "*", "*"))},
		{StreamTasks, consumerConfig(consumerDeliver, opts, eventFilters(KindSucceeded, KindFailed, KindRedeliver)...)},
		{StreamSchedules, consumerConfig(consumerDeliverDue, opts, dueSubject(dueHook, "*", "*"))},
		{StreamSchedules, consumerConfig(consumerPrune, opts, pruneDueSubject)},
		{StreamSchedules, consumerConfig(consumerWake, opts, wakeDueFilter)},
		{StreamSchedules, consumerConfig(consumerFire, opts, dueCronFilter)},
		{StreamSchedules, consumerConfig(consumerKeyAdmit, opts, dueKeyFilter)},
	}
	for _, c := range consumers {
		if err := jsensure.Consumer(ctx, js, c.stream, c.cfg, opts.Logger); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	return nil
}

func consumerConfig(name string, opts StreamOptions, filters ...string) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 100_000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      opts.Replicas,
	}
	if len(filters) == 1 {
		cfg.FilterSubject = filters[0]
	} else {
		cfg.FilterSubjects = filters
	}
	return cfg
}
