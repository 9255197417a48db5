package broker

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

func TestCombineWebhook(t *testing.T) {
	t.Parallel()
	tests := []struct{ a, b, want WebhookStatus }{
		{WebhookDelivered, WebhookDelivered, WebhookDelivered},
		{WebhookDelivered, WebhookDead, WebhookDead},
		{WebhookDead, WebhookRetrying, WebhookRetrying},
		{WebhookPending, WebhookDelivered, WebhookPending},
		{WebhookPending, WebhookRetrying, WebhookRetrying},
		{WebhookDead, WebhookDead, WebhookDead},
	}
	for _, tt := range tests {
		if got := combineWebhook(tt.a, tt.b); got != tt.want {
			t.Errorf("combineWebhook(%s, %s): got %s, want %s", tt.a, tt.b, got, tt.want)
		}
		if got := combineWebhook(tt.b, tt.a); got != tt.want {
			t.Errorf("combineWebhook(%s, %s): got %s, want %s", tt.b, tt.a, got, tt.want)
		}
	}
}

// states returns the task's receivers as "name=status".
func states(task *Task) string {
	var out []string
	for _, r := range task.Webhook.Receivers {
		out = append(out, r.Receiver+"="+string(r.Status))
	}
	return strings.Join(out, " ")
}

// TestTwoReceiversInTheView applies a failed task's events for both its
// receivers to a real view: each receiver keeps its own state and
// deliveries, the task's webhook state, its index and counts are theirs
// combined, and a redelivery starts both again.
func TestTwoReceiversInTheView(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	spec := Spec{TargetURL: "https://x", WebhookURL: "https://hooks/all", FailureWebhookURL: "https://hooks/failed"}
	b.publish(t, "ten_a", "tsk_1", KindCreated, createdEvent{Spec: spec, CreatedAt: now})
	b.publish(t, "ten_a", "tsk_2", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x", FailureWebhookURL: "https://hooks/failed"}, CreatedAt: now})
	b.publish(t, "ten_a", "tsk_2", KindSucceeded, finishedEvent{Attempts: 1, FinishedAt: now})
	round := b.publish(t, "ten_a", "tsk_1", KindFailed, finishedEvent{Attempts: 1, FinishedAt: now, Error: "boom",
		WebhookURL: spec.WebhookURL, FailureWebhookURL: spec.FailureWebhookURL})
	next := now.Add(time.Minute)
	b.publish(t, "ten_a", "tsk_1", KindDelivered, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "delivered", Round: round}})
	seq := b.publish(t, "ten_a", "tsk_1", KindDelivery, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "retry", Round: round,
		Receiver: FailureReceiver}, NextAttemptAt: &next})
	waitFor(t, p, seq)

	task, err := b.view.Get("ten_a", "tsk_1")
	if err != nil {
		t.Fatal(err)
	}
	if task.Webhook.Status != WebhookRetrying || states(task) != "webhook=delivered failure=retrying" || task.Webhook.NextAttemptAt == nil {
		t.Fatalf("webhook: got %s, receivers %q, next %v; want retrying, webhook delivered, failure retrying, a next time",
			task.Webhook.Status, states(task), task.Webhook.NextAttemptAt)
	}
	if d := task.Webhook.Deliveries; len(d) != 2 || d[0].Receiver != "" || d[1].Receiver != FailureReceiver || d[1].Number != 1 {
		t.Fatalf("deliveries: got %+v, want the webhook's #1, then the failure receiver's #1", d)
	}
	succeeded, err := b.view.Get("ten_a", "tsk_2")
	if err != nil || succeeded.Webhook != nil {
		t.Fatalf("a success with only a failure receiver: got webhook %+v (%v), want none", succeeded.Webhook, err)
	}

	seq = b.publish(t, "ten_a", "tsk_1", KindDead, deliveryEvent{Delivery: Delivery{Number: 2, Outcome: "dead", Round: round, Index: 1,
		Receiver: FailureReceiver}})
	waitFor(t, p, seq)
	page, err := b.view.List("ten_a", ListQuery{Webhook: WebhookDead})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "tsk_1" || states(page.Items[0]) != "webhook=delivered failure=dead" {
		t.Fatalf("webhook=dead: got %d items (%v), want tsk_1 with its failure receiver dead", len(page.Items), err)
	}
	counts, err := b.view.Counts("ten_a")
	if err != nil || counts.Webhook[WebhookDead] != 1 || counts.Webhook[WebhookRetrying] != 0 || counts.Webhook[WebhookDelivered] != 0 {
		t.Fatalf("counts: got %v (%v), want one dead", counts.Webhook, err)
	}

	seq = b.publish(t, "ten_a", "tsk_1", KindRedeliver, redeliverEvent{At: now})
	waitFor(t, p, seq)
	task, err = b.view.Get("ten_a", "tsk_1")
	if err != nil || task.Webhook.Status != WebhookPending || states(task) != "webhook=pending failure=pending" {
		t.Fatalf("after a redelivery: got %s, receivers %q (%v); want both pending", task.Webhook.Status, states(task), err)
	}
}

// httpNotifier posts a notification over HTTP, naming the task in
// Boomerang-Task-Id (package delivery does it for real, signed).
type httpNotifier struct{}

func (httpNotifier) Notify(ctx context.Context, n Notification) NotifyResult {
	started := time.Now()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, nil)
	if err != nil {
		return NotifyResult{Error: err.Error(), StartedAt: started}
	}
	r.Header.Set("Boomerang-Task-Id", n.TaskID)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return NotifyResult{Error: err.Error(), StartedAt: started}
	}
	resp.Body.Close()
	return NotifyResult{Delivered: resp.StatusCode/100 == 2, StatusCode: resp.StatusCode, StartedAt: started, Duration: time.Since(started)}
}

// TestBothLanesWaitForTheView: a failed task with two receivers, on a node
// whose view has not applied the failure yet. The deliverer schedules
// both receivers' first deliveries at once; their dues must wait for the
// view to know the round, not take the unknown round for a replaced one
// and drop it. Once the view catches up, each receiver gets one delivery.
func TestBothLanesWaitForTheView(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	always, onFailure := newTarget(t), newTarget(t)
	ctx := context.Background()
	const tenant, task = "ten_a", "tsk_lanes"
	now := time.Now().UTC()
	spec := Spec{TargetURL: "https://x", WebhookURL: always.URL, FailureWebhookURL: onFailure.URL}
	b.publish(t, tenant, task, KindCreated, &createdEvent{Spec: spec, CreatedAt: now})
	b.publish(t, tenant, task, KindFailed, &finishedEvent{Attempts: 1, FinishedAt: now, Error: "boom",
		WebhookURL: always.URL, FailureWebhookURL: onFailure.URL})

	// The projector has not started: the view lags the stream.
	p := projector.New(b.js, b.db, StreamTasks, b.view, quiet)
	d := NewDeliverer(b.js, b.pub, b.view, p, httpNotifier{}, fixedPolicy{}, quiet, WorkerConfig{MaxInFlight: 8})
	dctx, stopDeliverer := context.WithCancel(ctx)
	delivered := make(chan struct{})
	go func() { defer close(delivered); _ = d.Run(dctx) }()
	defer func() { stopDeliverer(); <-delivered }()

	// Both dues reach the deliverer and wait (or, wrongly, were dropped).
	waitConsumer(t, b, StreamSchedules, consumerDeliverDue, func(info *jetstream.ConsumerInfo) bool {
		return info.NumAckPending == 2 || info.Delivered.Consumer >= 2 && info.NumAckPending == 0
	})

	pctx, stopProjector := context.WithCancel(ctx)
	projected := make(chan struct{})
	go func() { defer close(projected); _ = p.Run(pctx) }()
	defer func() { stopProjector(); <-projected }()
	testenv.WaitUntil(t, "one delivery to each receiver", func() (bool, string) {
		hook, failure := len(always.callsFor(task)), len(onFailure.callsFor(task))
		return hook >= 1 && failure >= 1, fmt.Sprintf("webhook %d, failure %d", hook, failure)
	})
}
