package groupcommit

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
)

// BenchmarkPublish64 publishes 256-byte messages from 64 publishers at once
// to one stream of the embedded server, each waiting for its
// acknowledgement: with no fsync before it (the server's interval), with
// the group commit after it, and with the server's own fsync of every
// message (SyncAlways). Compare msgs/s; give the day's
// `dd if=/dev/zero of=F bs=4k count=2000 oflag=dsync` with the figures.
func BenchmarkPublish64(b *testing.B) {
	for _, mode := range []string{"interval", "groupcommit", "syncalways"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			srv, err := natsembed.Start(natsembed.Config{Dir: dir, SyncAlways: mode == "syncalways"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Shutdown()
			nc, err := srv.Connect()
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "B", Subjects: []string{"b.>"}}); err != nil {
				b.Fatal(err)
			}
			if mode == "groupcommit" {
				c, err := New(natsembed.StreamsDir(dir), nil)
				if errors.Is(err, ErrUnsupported) {
					b.Skip(err)
				}
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				js = c.JetStream(js)
			}
			publishParallel(b, js, 64)
		})
	}
}

// publishParallel publishes b.N messages from n publishers and reports
// the rate and the latency of a publish.
func publishParallel(b *testing.B, js jetstream.JetStream, n int) {
	payload := make([]byte, 256)
	var mu sync.Mutex
	var took []time.Duration
	b.SetParallelism(max(1, n/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			if _, err := js.Publish(context.Background(), "b.x", payload); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		took = append(took, mine...)
		mu.Unlock()
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	slices.Sort(took)
	if len(took) > 0 {
		b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	}
}
