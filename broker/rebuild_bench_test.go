package broker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
)

// BenchmarkViewRebuild publishes the events of three-hop tasks (created,
// succeeded with a 200-byte response, delivered) into a real task stream,
// then times fresh projectors building a view from sequence 0 to the end,
// as a node does after view.db is deleted, and reports events per second.
// BOOMERANG_BENCH_EVENTS sets the number of events (default 200,000).
func BenchmarkViewRebuild(b *testing.B) {
	events := 200_000
	if s := os.Getenv("BOOMERANG_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		events = n
	}
	js := startBenchJetStream(b)
	publishTasks(b, NewPublisher(js), events/3)
	dir := b.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	total := 0
	var cpu time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		db, err := bolt.Open(filepath.Join(dir, "v"+strconv.Itoa(i)+".db"), 0o600,
			&bolt.Options{NoSync: true, NoFreelistSync: true, InitialMmapSize: 256 << 20})
		if err != nil {
			b.Fatal(err)
		}
		p := projector.New(js, db, StreamTasks, NewView(db, NewHub()), logger)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		cpuBefore := processCPU()
		b.StartTimer()
		go func() { done <- p.Run(ctx) }()
		select {
		case <-p.Ready():
		case err := <-done:
			b.Fatalf("projector stopped: %v", err)
		}
		b.StopTimer()
		cpu += processCPU() - cpuBefore
		total += int(p.Applied())
		cancel()
		<-done
		if p.Skipped() != 0 {
			b.Fatalf("skipped %d events", p.Skipped())
		}
		db.Close()
		os.Remove(filepath.Join(dir, "v"+strconv.Itoa(i)+".db"))
		b.StartTimer()
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/event")
}

// processCPU is the CPU time the process has used, the embedded NATS
// server's included: on a shared machine a steadier figure than the wall
// clock.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// publishTasks publishes the three events of n finished tasks with a
// delivered webhook, from 64 publishers at once.
func publishTasks(b *testing.B, pub *Publisher, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	resp := Response{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"},
		Body: json.RawMessage(`{"ok":"` + strings.Repeat("y", 190) + `"}`)}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 64 {
				at := now.Add(time.Duration(i) * time.Millisecond)
				id := newTaskID(at)
				a := Attempt{Number: 1, StartedAt: at, DurationMs: 12, Outcome: OutcomeSucceeded, Response: resp}
				d := Delivery{Number: 1, AttemptedAt: at, DurationMs: 3, Outcome: "delivered", StatusCode: 204}
				for _, ev := range []struct {
					kind string
					v    any
					opts []eventOpt
				}{
					{KindCreated, createdEvent{Spec: benchSpec(), CreatedAt: at}, nil},
					{KindSucceeded, &finishedEvent{Attempt: &a, Attempts: 1, FinishedAt: at, WebhookURL: "https://hooks.example.com/in"}, []eventOpt{webhookHeader(true)}},
					{KindDelivered, deliveryEvent{Delivery: d}, nil},
				} {
					if _, err := pub.PublishEvent(ctx, "ten_bench", id, ev.kind, ev.v, ev.opts...); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
