package broker

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// BenchmarkScheduleFiringLateness measures how late schedules' firings make
// their tasks (the task's createdAt minus its firingAt) on a real embedded
// server with file storage: one schedule, then 100, firing every second for 30 s,
// handled by two firers sharing the consumer, as two nodes do. All of them
// 100 fire at the same instants, so each second is a burst. Run it once:
//
//	go test -run '^$' -bench ScheduleFiringLateness -benchtime 1x ./broker/
//
// It reports the firings and the p50, p99 and max lateness.
func BenchmarkScheduleFiringLateness(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("schedules=%d", n), func(b *testing.B) { benchFiringLateness(b, n) })
	}
}

func benchFiringLateness(b *testing.B, schedules int) {
	const span = 30 * time.Second
	js, _ := testenv.StartJetStream(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := EnsureStreams(ctx, js, StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(b.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	view, pub := NewView(db, NewHub()), NewPublisher(js)
	p := projector.New(js, db, StreamTasks, view, quiet)
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = p.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	tasks := NewTasks(pub, view, p, quiet, nil)
	for range 2 {
		f := NewScheduleFirer(js, NewPublisher(js), tasks, quiet, ScheduleFirerConfig{})
		go func() { _ = f.Run(ctx) }()
	}
	b.ResetTimer()
	for range b.N {
		s := NewSchedules(pub, quiet, nil)
		var ids []string
		for range schedules {
			sc, err := s.Create(ctx, "ten_a", ScheduleTiming{Every: time.Second}, scheduleTemplate)
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, sc.ID)
		}
		time.Sleep(span)
		for _, id := range ids {
			if err := s.Delete(ctx, "ten_a", id); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := p.WaitFor(wctx, pub.LastTaskSeq()); err != nil {
		b.Fatal(err)
	}
	late := firingLateness(b, view, "ten_a")
	if len(late) == 0 {
		b.Fatal("no firing made a task")
	}
	pct := func(q float64) float64 { return float64(late[int(q*float64(len(late)-1))]) / 1e6 }
	b.ReportMetric(float64(len(late)), "firings")
	b.ReportMetric(pct(0.5), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(pct(1), "max_ms")
}

// firingLateness returns createdAt − firingAt of every task of the tenant
// made by a schedule, sorted.
func firingLateness(tb testing.TB, view *View, tenantID string) []time.Duration {
	var late []time.Duration
	q := ListQuery{Limit: 200}
	for {
		page, err := view.List(tenantID, q)
		if err != nil {
			tb.Fatal(fmt.Errorf("list: %w", err))
		}
		for _, task := range page.Items {
			if task.FiringAt != nil {
				late = append(late, task.CreatedAt.Sub(*task.FiringAt))
			}
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	slices.Sort(late)
	return late
}
