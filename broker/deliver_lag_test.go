package broker

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/projector"
)

// TestRetryDueOnALaggingViewIsNotDropped: a webhook's second delivery,
// scheduled by a node that made the first, reaches a node whose view has
// not applied the round yet (a node catching up after a restart). It
// waits for the view to apply the stream and delivers; it is not taken
// for the due of a round that is gone.
func TestRetryDueOnALaggingViewIsNotDropped(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	receiver := newTarget(t)
	ctx := context.Background()
	const tenant, task = "ten_a", "tsk_lagging"
	now := time.Now().UTC()
	b.publish(t, tenant, task, KindCreated, &createdEvent{Spec: Spec{TargetURL: "https://x", WebhookURL: receiver.URL}, CreatedAt: now})
	round := b.publish(t, tenant, task, KindSucceeded, &finishedEvent{Attempts: 1, FinishedAt: now, WebhookURL: receiver.URL})
	// Another node took the task's end, made the first delivery (it
	// failed), recorded it and scheduled the second.
	cons, err := b.js.Consumer(ctx, StreamTasks, consumerDeliver)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(1)
	if err != nil {
		t.Fatal(err)
	}
	end, ok := <-batch.Messages()
	if !ok {
		t.Fatalf("the task's end was not delivered: %v", batch.Error())
	}
	next := now.Add(-time.Second)
	b.publish(t, tenant, task, KindDelivery, &deliveryEvent{NextAttemptAt: &next, Delivery: Delivery{
		Number: 1, AttemptedAt: now, Outcome: "retry", StatusCode: 503, Round: round, Index: 0}})
	due := hookDue{Round: round, Index: 1, Number: 2, Notification: Notification{TenantID: tenant, TaskID: task,
		WebhookID: WebhookID(task), URL: receiver.URL, Status: StatusSucceeded, Attempts: 1, FinishedAt: now}}
	if err := b.pub.schedule(ctx, dueHook, tenant, task, next, &due); err != nil {
		t.Fatal(err)
	}
	if err := end.Ack(); err != nil {
		t.Fatal(err)
	}

	// This node's projector has not started: its view knows no round.
	p := projector.New(b.js, b.db, StreamTasks, b.view, quiet)
	d := NewDeliverer(b.js, b.pub, b.view, p, httpNotifier{}, fixedPolicy{}, quiet, WorkerConfig{MaxInFlight: 4})
	dctx, stopDeliverer := context.WithCancel(ctx)
	delivered := make(chan struct{})
	go func() { defer close(delivered); _ = d.Run(dctx) }()
	defer func() { stopDeliverer(); <-delivered }()
	waitConsumer(t, b, StreamSchedules, consumerDeliverDue, func(info *jetstream.ConsumerInfo) bool {
		return info.NumAckPending == 1 || info.Delivered.Consumer >= 1
	})

	pctx, stopProjector := context.WithCancel(ctx)
	projected := make(chan struct{})
	go func() { defer close(projected); _ = p.Run(pctx) }()
	defer func() { stopProjector(); <-projected }()
	waitConsumer(t, b, StreamSchedules, consumerDeliverDue, func(info *jetstream.ConsumerInfo) bool {
		return info.NumAckPending == 0 && info.Delivered.Consumer >= 1
	})
	if calls := len(receiver.callsFor(task)); calls != 1 {
		t.Fatalf("the second delivery: %d calls to the receiver, want 1", calls)
	}
}
