package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// BenchmarkPromote wakes a bucket of 10,000 parked waits (due an hour
// ahead, with the spec of benchSpec) and reports how many it promotes to
// pending schedules per second, with the server syncing on its interval
// and before every acknowledgement; parking them is not timed.
func BenchmarkPromote(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("syncAlways=%v", sync), func(b *testing.B) { benchmarkPromote(b, sync) })
	}
}

func benchmarkPromote(b *testing.B, syncAlways bool) {
	const waits = 10_000
	js, _ := testenv.StartJetStream(b, func(c *natsembed.Config) { c.SyncAlways = syncAlways })
	ctx := context.Background()
	if err := EnsureStreams(ctx, js, StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	pub := NewPublisher(js)
	at := time.Now().Add(time.Hour)
	var promoted time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		data, err := encodeFit(taskDue{TenantID: "ten_a", Attempt: 1, Spec: benchSpec()}, pub.maxData())
		if err != nil {
			b.Fatal(err)
		}
		bucket := pub.parking.bucketOf(at) + int64(i)*60
		var acks []jetstream.PubAckFuture
		for j := range waits {
			parked := parkedMsg(bucket, scheduleSubject(dueTask, "ten_a", fmt.Sprintf("tsk_%d_%d", i, j)), at, data)
			ack, err := js.PublishMsgAsync(parked)
			if err != nil {
				b.Fatal(err)
			}
			if acks = append(acks, ack); len(acks) == 1000 || j == waits-1 {
				if err := awaitAcks(ctx, acks); err != nil {
					b.Fatal(err)
				}
				acks = acks[:0]
			}
		}
		b.StartTimer()
		start := time.Now()
		n, err := pub.promote(ctx, bucket, quiet)
		promoted += time.Since(start)
		if err != nil || n != waits {
			b.Fatalf("promote: got %d, %v; want %d", n, err, waits)
		}
	}
	b.ReportMetric(float64(b.N*waits)/promoted.Seconds(), "waits/s")
}
