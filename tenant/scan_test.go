package tenant

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// A scan whose consumer delivers nothing while messages are still expected
// gives up on that consumer (scan then starts another after the last
// message read) instead of waiting for its context to end: here the
// consumer is told of one message more than the stream holds.
func TestScanGivesUpOnAConsumerThatDeliversNothing(t *testing.T) {
	js, _ := testenv.StartJetStream(t)
	ctx := context.Background()
	stream, err := js.CreateOrUpdateStream(ctx, StreamConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	ack, err := js.Publish(ctx, "tenant.t1.created", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	// The stall is short, so a busy machine may not deliver even the one
	// message in time: such a scan stalls too, having read nothing, and a
	// fresh consumer tries again. Only a scan that read it is checked.
	var pending, after uint64
	var read []uint64
	testenv.WaitUntil(t, "a scan that reads the message before it stalls", func() (bool, string) {
		cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = stream.DeleteConsumer(ctx, cons.CachedInfo().Name) }()
		pending, after, read = 2, 0, nil
		err = scanWith(ctx, cons, 200*time.Millisecond, &pending, &after, func(_ jetstream.Msg, seq uint64) error {
			read = append(read, seq)
			return nil
		})
		if len(read) == 0 && (!errors.Is(err, errScanStalled) || pending != 2) {
			t.Fatalf("a scan that read nothing: got err %v, %d pending; want errScanStalled, 2 pending", err, pending)
		}
		if len(read) > 0 && !errors.Is(err, errScanStalled) {
			t.Fatalf("got err %v, want errScanStalled", err)
		}
		return len(read) > 0, "every scan stalled before the message came"
	})
	if pending != 1 || after != ack.Sequence || len(read) != 1 {
		t.Fatalf("got %d pending after %d, read %v; want 1 pending after %d, read once",
			pending, after, read, ack.Sequence)
	}
}
