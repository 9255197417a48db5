package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestBatchingDoesNotChangeTheView applies one run of events — every kind,
// tasks whose events share a batch or not, a prune in the middle, and
// events in the JSON of earlier versions — to fresh views, in one batch,
// one event per batch, and batches of three: the views hold the same keys
// and values. A view writes a task once per batch (writeTasks), so the live
// view (small batches) must not differ from a rebuilt one (large batches).
func TestBatchingDoesNotChangeTheView(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	resp := Response{StatusCode: 200, Headers: map[string]string{"B": "2", "A": "1"}, Body: json.RawMessage(`{"ok":true}`)}
	spec := Spec{TargetURL: "https://h.example/x", Method: "POST", Payload: json.RawMessage(`{"n": 1}`), WebhookURL: "https://hook.example"}
	for i := range 4 {
		id := fmt.Sprintf("tsk_%d", i)
		s := spec
		s.IdempotencyKey = "key" + id
		b.publish(t, "ten_a", id, KindCreated, createdEvent{Spec: s, CreatedAt: at})
		b.publish(t, "ten_a", id, KindStarted, startedEvent{Attempt: 1, At: at})
		next := at.Add(time.Second)
		b.publish(t, "ten_a", id, KindAttempt, &attemptEvent{Attempt: Attempt{Number: 1, Outcome: OutcomeRetry, Response: resp}, NextAttemptAt: &next})
		fin := &finishedEvent{Attempt: &Attempt{Number: 2, Outcome: OutcomeSucceeded, Response: resp}, Attempts: 2, FinishedAt: at, WebhookURL: s.WebhookURL}
		b.publish(t, "ten_a", id, KindSucceeded, fin)
		if i%2 == 0 {
			b.publish(t, "ten_a", id, KindDelivery, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "retry", Round: 4}, NextAttemptAt: &next})
			b.publish(t, "ten_a", id, KindDelivered, deliveryEvent{Delivery: Delivery{Number: 2, Outcome: "delivered", Round: 4, Index: 1}})
		} else {
			b.publish(t, "ten_a", id, KindDead, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "dead", Round: 4}})
		}
	}
	b.publish(t, "ten_a", "tsk_c", KindCreated, createdEvent{Spec: spec, CreatedAt: at})
	b.publish(t, "ten_a", "tsk_c", KindCanceled, canceledEvent{At: at})
	b.publish(t, "ten_a", "tsk_c", KindFailed, &finishedEvent{Error: "late", FinishedAt: at}) // the cancel won
	// Events as earlier versions wrote them, in JSON.
	for kind, v := range map[string]any{KindCreated: createdEvent{Spec: spec, CreatedAt: at}, KindFailed: &finishedEvent{Error: "no", FinishedAt: at, WebhookURL: "https://hook.example"}} {
		data, err := marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.js.Publish(ctx, taskSubject("ten_b", "tsk_j", kind), data); err != nil {
			t.Fatal(err)
		}
	}
	b.publish(t, "ten_a", "tsk_0", KindRedeliver, redeliverEvent{At: at})
	prune, _ := marshal(pruneEvent{Before: at.Add(time.Hour)})
	if _, err := b.js.Publish(ctx, taskSubject("ten_a", pruneToken, KindPrune), prune); err != nil {
		t.Fatal(err)
	}
	b.publish(t, "ten_a", "tsk_1", KindRedeliver, redeliverEvent{At: at}) // pruned: skipped
	b.publish(t, "ten_a", "tsk_n", KindCreated, createdEvent{Spec: spec, CreatedAt: at})
	b.publish(t, "ten_a", "tsk_n", KindCanceled, canceledEvent{At: at})

	msgs := fetchAll(t, b.js)
	var want map[string]string
	for _, size := range []int{len(msgs), 1, 3} {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "v.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		view := NewView(db, NewHub())
		for start := 0; start < len(msgs); start += size {
			batch := msgs[start:min(start+size, len(msgs))]
			if err := db.Update(func(tx *bolt.Tx) error { _, err := view.Apply(tx, batch); return err }); err != nil {
				t.Fatal(err)
			}
		}
		got := dumpView(t, db)
		db.Close()
		if want == nil {
			want = got
			if len(got) < 20 {
				t.Fatalf("the view holds only %d keys", len(got))
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			for k, v := range want {
				if got[k] != v {
					t.Errorf("batches of %d: %s: got %q, want %q", size, k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("batches of %d: %s: not in the one-batch view", size, k)
				}
			}
		}
	}
}

func fetchAll(t *testing.T, js jetstream.JetStream) []jetstream.Msg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, StreamTasks)
	if err != nil {
		t.Fatal(err)
	}
	n := int(s.CachedInfo().State.Msgs)
	cons, err := js.OrderedConsumer(ctx, StreamTasks, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(testenv.GiveUpAfter))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != n {
		t.Fatalf("fetched %d of %d events", len(msgs), n)
	}
	return msgs
}
