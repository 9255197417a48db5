package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestConsumerReplayMakesNoRepeat: the dispatch and deliver consumers hand
// out again, as first deliveries, events whose work is done and recorded —
// as a clustered consumer does whose new leader had not heard of their
// acks (here: each is deleted and made again, so it starts from the top of
// the stream). The node finds the work done in its view and makes no
// second call and no second webhook.
func TestConsumerReplayMakesNoRepeat(t *testing.T) {
	t.Parallel()
	natsURL := startExternalNATS(t)
	node := MustRunMain(t, "--nats-url", natsURL, "--secret-key", newSecretKey(t))
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	var ids []string
	for range 3 {
		task := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
		ids = append(ids, task.ID)
	}
	for _, id := range ids {
		receiver.WaitFor(t, id, 1, 30*time.Second)
	}

	js, err := jetstream.New(connectNATS(t, natsURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"dispatch", "deliver"} {
		replayConsumer(t, ctx, js, broker.StreamTasks, name)
	}
	// A task created after the replay: once it has had its webhook and
	// both consumers have nothing left, the replayed events are handled.
	last := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	receiver.WaitFor(t, last.ID, 1, 30*time.Second)
	for _, name := range []string{"dispatch", "deliver"} {
		waitConsumerDrained(t, ctx, js, broker.StreamTasks, name)
	}
	for _, id := range ids {
		if calls, hooks := len(target.CallsFor(id)), len(receiver.For(id)); calls != 1 || hooks != 1 {
			t.Errorf("task %s: %d target calls and %d webhooks after the replay, want 1 and 1", id, calls, hooks)
		}
	}
	if r := client.Do(t, http.MethodGet, "/v1/tasks/"+ids[0], nil); r.Status != http.StatusOK {
		t.Fatalf("read after the replay: %d", r.Status)
	}
}

// replayConsumer deletes a durable consumer and makes it again with its
// configuration: it delivers the stream from the start, each message as a
// first delivery.
func replayConsumer(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, name string) {
	t.Helper()
	c, err := js.Consumer(ctx, stream, name)
	if err != nil {
		t.Fatal(err)
	}
	cfg := c.CachedInfo().Config
	if err := js.DeleteConsumer(ctx, stream, name); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateConsumer(ctx, stream, cfg); err != nil {
		t.Fatal(err)
	}
}

// waitConsumerDrained waits until a durable consumer has delivered every
// message and had every one acknowledged.
func waitConsumerDrained(t *testing.T, ctx context.Context, js jetstream.JetStream, stream, name string) {
	t.Helper()
	testenv.WaitUntil(t, "consumer "+name+" to drain", func() (bool, string) {
		c, err := js.Consumer(ctx, stream, name)
		if err != nil {
			return false, err.Error()
		}
		info := c.CachedInfo()
		return info.NumPending == 0 && info.NumAckPending == 0, fmt.Sprintf("%d pending, %d awaiting their ack", info.NumPending, info.NumAckPending)
	})
}
