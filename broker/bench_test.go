package broker

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

func benchSpec() Spec {
	return Spec{TargetURL: "https://api.example.com/jobs", Method: "POST", Retries: 3, Timeout: 30,
		Payload: json.RawMessage(`{"data":"` + strings.Repeat("x", 240) + `"}`), WebhookURL: "https://hooks.example.com/in"}
}

// BenchmarkEncodeCreated encodes a created event as events are published
// (binary), and as JSON, the format before.
func BenchmarkEncodeCreated(b *testing.B) {
	ev := createdEvent{Spec: benchSpec(), CreatedAt: time.Now()}
	b.Run("binary", func(b *testing.B) {
		for b.Loop() {
			if _, err := encodeValue(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			if _, err := marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeCreated decodes a created event in either format.
func BenchmarkDecodeCreated(b *testing.B) {
	ev := createdEvent{Spec: benchSpec(), CreatedAt: time.Now()}
	asJSON, _ := marshal(ev)
	for name, data := range map[string][]byte{"binary": ev.appendBin(newWbuf(0)), "json": asJSON} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var ev createdEvent
				if err := decodeEvent(data, &ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProjectorApply applies batches of 1,000 events (500 tasks:
// created, then succeeded with a 200-byte response) to a fresh bbolt file
// per iteration and reports events per second.
func BenchmarkProjectorApply(b *testing.B) {
	js := startBenchJetStream(b)
	ctx := context.Background()
	pub := NewPublisher(js)
	now := time.Now()
	for i := range 500 {
		id := newTaskID(now.Add(time.Duration(i) * time.Millisecond))
		if _, err := pub.PublishEvent(ctx, "ten_a", id, KindCreated, createdEvent{Spec: benchSpec(), CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
		a := Attempt{Number: 1, StartedAt: now, DurationMs: 12, Outcome: OutcomeSucceeded,
			Response: Response{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: json.RawMessage(`{"ok":"` + strings.Repeat("y", 190) + `"}`)}}
		if _, err := pub.PublishEvent(ctx, "ten_a", id, KindSucceeded, finishedEvent{Attempt: &a, Attempts: 1, FinishedAt: now, WebhookURL: "https://hooks.example.com/in"}); err != nil {
			b.Fatal(err)
		}
	}
	cons, err := js.OrderedConsumer(ctx, StreamTasks, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 1000 {
		b.Fatalf("fetched %d", len(msgs))
	}
	dir := b.TempDir()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		db, err := bolt.Open(filepath.Join(dir, fmt.Sprintf("v%d.db", i)), 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
		if err != nil {
			b.Fatal(err)
		}
		view := NewView(db, NewHub())
		b.StartTimer()
		if err := db.Update(func(tx *bolt.Tx) error { _, err := view.Apply(tx, msgs); return err }); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(msgs)*b.N)/b.Elapsed().Seconds(), "events/s")
}

func startBenchJetStream(b *testing.B) jetstream.JetStream {
	b.Helper()
	js, _ := testenv.StartJetStream(b)
	if err := EnsureStreams(context.Background(), js, StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	return js
}
