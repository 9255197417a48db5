package broker

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestRedeliveredAttemptWaitsForTheView: a task's created event comes back
// to the dispatcher (its first delivery was not acknowledged) after
// another node made the attempt and recorded the task's end, while this
// node's view has applied neither. The dispatcher catches the view up
// before asking it, and makes no second call.
func TestRedeliveredAttemptWaitsForTheView(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	tg := newTarget(t)
	ctx := context.Background()
	const tenant, task = "ten_a", "tsk_redelivered"
	spec := Spec{TargetURL: tg.URL, Method: http.MethodPost, Retries: 2, Timeout: 5}
	now := time.Now().UTC()
	b.publish(t, tenant, task, KindCreated, &createdEvent{Spec: spec, CreatedAt: now})
	// The node that made the attempt took the event first, and its ack
	// never arrived: the event is delivered again.
	cons, err := b.js.Consumer(ctx, StreamTasks, consumerDispatch)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(1)
	if err != nil {
		t.Fatal(err)
	}
	first, ok := <-batch.Messages()
	if !ok {
		t.Fatalf("the created event was not delivered: %v", batch.Error())
	}
	b.publish(t, tenant, task, KindSucceeded, &finishedEvent{Attempts: 1, FinishedAt: now,
		Attempt: &Attempt{Number: 1, StartedAt: now, Outcome: OutcomeSucceeded}})
	if err := first.Nak(); err != nil {
		t.Fatal(err)
	}

	// This node's projector has not started: its view lags the stream.
	p := projector.New(b.js, b.db, StreamTasks, b.view, quiet)
	d := NewDispatcher(b.js, b.pub, b.view, p, httpCaller{}, fixedPolicy{}, quiet, WorkerConfig{MaxInFlight: 4})
	dctx, stopDispatcher := context.WithCancel(ctx)
	dispatched := make(chan struct{})
	go func() { defer close(dispatched); _ = d.Run(dctx) }()
	defer func() { stopDispatcher(); <-dispatched }()
	// It holds the redelivered event (or has already called, wrongly).
	waitConsumer(t, b, StreamTasks, consumerDispatch, func(info *jetstream.ConsumerInfo) bool {
		return info.NumRedelivered >= 1 && info.NumAckPending == 1 || len(tg.callsFor(task)) > 0
	})

	pctx, stopProjector := context.WithCancel(ctx)
	projected := make(chan struct{})
	go func() { defer close(projected); _ = p.Run(pctx) }()
	defer func() { stopProjector(); <-projected }()
	waitConsumer(t, b, StreamTasks, consumerDispatch, func(info *jetstream.ConsumerInfo) bool { return info.NumAckPending == 0 })
	if calls := tg.callsFor(task); len(calls) != 0 {
		t.Fatalf("the target was called %d times again, for an attempt the stream had recorded", len(calls))
	}
}

// waitConsumer waits until the durable consumer's state satisfies ok: a
// state ok names in its return, for the failure message.
func waitConsumer(t *testing.T, b *bundle, stream, name string, ok func(info *jetstream.ConsumerInfo) bool) {
	t.Helper()
	testenv.WaitUntil(t, "consumer "+name, func() (bool, string) {
		cons, err := b.js.Consumer(context.Background(), stream, name)
		if err != nil {
			t.Fatal(err)
		}
		info := cons.CachedInfo()
		return ok(info), fmt.Sprintf("%d handed out, %d awaiting their ack, %d redelivered",
			info.Delivered.Consumer, info.NumAckPending, info.NumRedelivered)
	})
}
