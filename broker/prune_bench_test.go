package broker

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
)

// BenchmarkViewSizeUnderSteadyLoad measures the view of one tenant under a
// steady load, with and without pruning: 30 simulated days of 300 tasks a
// day (created, succeeded with a 200-byte response, webhook delivered),
// with a prune event at the end of each day for a 7-day retention, or none.
// It reports the keys in the tenant's buckets, the bytes their pages use and
// the file's size after the last day. Its work does not depend on b.N: run
// it with -benchtime=1x.
//
//	go test -run '^$' -bench ViewSizeUnderSteadyLoad -benchtime=1x ./broker/
func BenchmarkViewSizeUnderSteadyLoad(b *testing.B) {
	for _, prune := range []bool{false, true} {
		name := "without-prune"
		if prune {
			name = "prune-7d"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				keys, inuse, file := simulateSteadyLoad(b, 30, 300, prune)
				b.ReportMetric(float64(keys), "keys")
				b.ReportMetric(float64(inuse), "inuse-bytes")
				b.ReportMetric(float64(file), "file-bytes")
			}
		})
	}
}

func simulateSteadyLoad(b *testing.B, days, perDay int, prune bool) (keys, inuse, file int) {
	js := startBenchJetStream(b)
	path := filepath.Join(b.TempDir(), "view.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	view := NewView(db, NewHub())
	p := projector.New(js, db, StreamTasks, view, quiet)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	pub := NewPublisher(js)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	resp := Response{StatusCode: 200, Body: json.RawMessage(`{"ok":"` + strings.Repeat("y", 190) + `"}`)}
	for d := range days {
		day := start.Add(time.Duration(d) * 24 * time.Hour)
		for i := range perDay {
			at := day.Add(time.Duration(i) * time.Minute)
			id := newTaskID(at)
			for _, ev := range []struct {
				kind string
				v    any
			}{
				{KindCreated, createdEvent{Spec: benchSpec(), CreatedAt: at}},
				{KindSucceeded, finishedEvent{Attempt: &Attempt{Number: 1, Outcome: OutcomeSucceeded, Response: resp}, Attempts: 1,
					FinishedAt: at, WebhookURL: "https://hooks.example.com/in"}},
				{KindDelivered, deliveryEvent{Delivery: Delivery{Number: 1, Outcome: "delivered", StatusCode: 204}}},
			} {
				if _, err := pub.PublishEvent(context.Background(), "ten_a", id, ev.kind, ev.v); err != nil {
					b.Fatal(err)
				}
			}
		}
		if prune {
			end := day.Add(24 * time.Hour)
			if _, err := pub.PublishEvent(context.Background(), "ten_a", pruneToken, KindPrune, pruneEvent{Before: end.Add(-7 * 24 * time.Hour)}); err != nil {
				b.Fatal(err)
			}
		}
		wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
		if err := p.WaitFor(wctx, pub.LastTaskSeq()); err != nil {
			b.Fatal(err)
		}
		wcancel()
		keys, inuse, file = viewSize(b, db, path)
		if (d+1)%5 == 0 {
			b.Logf("day %2d: %6d keys, %8d bytes in use, file %8d bytes", d+1, keys, inuse, file)
		}
	}
	return keys, inuse, file
}

// viewSize returns the keys of the tenant's buckets, the bytes their pages
// use, and the size of the file.
func viewSize(b *testing.B, db *bolt.DB, path string) (keys, inuse, file int) {
	err := db.View(func(tx *bolt.Tx) error {
		if tb := tenantBucket(tx, "ten_a"); tb != nil {
			s := tb.Stats()
			keys, inuse = s.KeyN, s.BranchInuse+s.LeafInuse
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return keys, inuse, int(info.Size())
}
