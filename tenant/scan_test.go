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
	cons, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true})
	if err != nil {
		t.Fatal(err)
	}
	pending, after := uint64(2), uint64(0)
	var read []uint64
	err = scanWith(ctx, cons, 200*time.Millisecond, &pending, &after, func(_ jetstream.Msg, seq uint64) error {
		read = append(read, seq)
		return nil
	})
	if !errors.Is(err, errScanStalled) || pending != 1 || after != ack.Sequence || len(read) != 1 {
		t.Fatalf("got err %v, %d pending after %d, read %v; want errScanStalled, 1 pending after %d, read once",
			err, pending, after, read, ack.Sequence)
	}
}
