package projector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestMain fails the package when a goroutine outlives its tests: Run must
// stop its consumer, and the embedded server stops with the test that
// started it. No goroutine needs ignoring.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// errBoom is what countApplier returns for a message whose data is "fail".
var errBoom = errors.New("boom")

// countApplier counts, in bucket "applied" of the view, how many times each
// stream sequence was applied. With fail set, it fails a batch holding a
// message "fail".
type countApplier struct{ fail bool }

var bucketApplied = []byte("applied")

func (a countApplier) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	b, err := tx.CreateBucketIfNotExists(bucketApplied)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if a.fail && string(m.Data()) == "fail" {
			return nil, errBoom
		}
		meta, err := m.Metadata()
		if err != nil {
			return nil, err
		}
		key := binary.BigEndian.AppendUint64(nil, meta.Sequence.Stream)
		n := uint64(0)
		if v := b.Get(key); v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		if err := b.Put(key, binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// bundle is a stream "TEST" on an embedded JetStream and a bbolt file.
type bundle struct {
	js jetstream.JetStream
	db *bolt.DB
}

const testStream = "TEST"

func newBundle(t *testing.T) *bundle {
	t.Helper()
	js, _ := testenv.StartJetStream(t)
	cfg := jetstream.StreamConfig{Name: testStream, Subjects: []string{"t.>"}, Storage: jetstream.FileStorage}
	if _, err := js.CreateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &bundle{js: js, db: db}
}

// publish publishes data on t.x and returns its stream sequence.
func (b *bundle) publish(t *testing.T, data string) uint64 {
	t.Helper()
	ack, err := b.js.Publish(context.Background(), "t.x", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// running is a projector running in a goroutine.
type running struct {
	*Projector
	done   chan struct{} // closed when Run has returned
	err    error         // what Run returned, once done
	cancel context.CancelFunc
}

// stop ends Run, if it has not ended on its own, and returns its error.
func (r *running) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// run runs a projector of the test stream through applier until the test
// ends or it is stopped.
func (b *bundle) run(t *testing.T, applier Applier) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Projector: New(b.js, b.db, testStream, applier, quiet), done: make(chan struct{}), cancel: cancel}
	go func() { defer close(r.done); r.err = r.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

func waitFor(t *testing.T, p *running, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitFor(ctx, seq); err != nil {
		t.Fatalf("projector did not reach %d: %v", seq, err)
	}
}

// applied returns how many times the view applied each sequence, and the
// sequence the projector stored.
func (b *bundle) applied(t *testing.T) (map[uint64]uint64, uint64) {
	t.Helper()
	counts := map[uint64]uint64{}
	var stored uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		if bk := tx.Bucket(bucketApplied); bk != nil {
			if err := bk.ForEach(func(k, v []byte) error {
				counts[binary.BigEndian.Uint64(k)] = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return err
			}
		}
		// The layout existing view files have: bucket "meta", key
		// "seq/<stream>", 8 bytes big-endian.
		if meta := tx.Bucket([]byte("meta")); meta != nil {
			if v := meta.Get([]byte("seq/" + testStream)); v != nil {
				if len(v) != 8 {
					return fmt.Errorf("stored sequence is %d bytes, want 8", len(v))
				}
				stored = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return counts, stored
}

// wantAppliedOnce fails unless sequences 1..last were each applied once
// and last is the stored sequence.
func (b *bundle) wantAppliedOnce(t *testing.T, last uint64) {
	t.Helper()
	counts, stored := b.applied(t)
	if stored != last {
		t.Errorf("stored sequence: got %d, want %d", stored, last)
	}
	if uint64(len(counts)) != last {
		t.Errorf("applied sequences: got %d, want %d (%v)", len(counts), last, counts)
	}
	for seq := uint64(1); seq <= last; seq++ {
		if counts[seq] != 1 {
			t.Errorf("sequence %d applied %d times, want once", seq, counts[seq])
		}
	}
}

func TestResumesFromStoredSequenceWithoutApplyingTwice(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	for range 3 {
		b.publish(t, "a")
	}
	p := b.run(t, countApplier{})
	waitFor(t, p, 3)
	if err := p.stop(); err != nil {
		t.Fatalf("Run: got %v, want nil after ctx ended", err)
	}
	b.wantAppliedOnce(t, 3)

	// More while no projector runs; a new one starts from the stored
	// sequence, not from the stream's start.
	for range 2 {
		b.publish(t, "b")
	}
	p2 := b.run(t, countApplier{})
	waitFor(t, p2, 5)
	b.wantAppliedOnce(t, 5)
}

func TestReadyAndCatchUp(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	for range 5 {
		b.publish(t, "a")
	}
	p := b.run(t, countApplier{})
	select {
	case <-p.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("projector never became ready")
	}
	if got := p.Applied(); got < 5 {
		t.Fatalf("ready with %d applied, want the 5 the stream held at the start", got)
	}

	// CatchUp waits for what the stream holds when it is called, here
	// messages whose publishes the projector has not been told about.
	var last uint64
	for range 3 {
		last = b.publish(t, "b")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p.Applied(); got < last {
		t.Fatalf("after CatchUp: applied %d, want %d", got, last)
	}
}

func TestReadyAtOnceOnAnEmptyStream(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p := b.run(t, countApplier{})
	select {
	case <-p.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("projector of an empty stream never became ready")
	}
}

func TestWaitForHonoursContext(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p := New(b.js, b.db, testStream, countApplier{}, quiet) // never runs

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.WaitFor(ctx, 0); err != nil {
		t.Fatalf("WaitFor(0): got %v, want nil: nothing to wait for", err)
	}
	if err := p.WaitFor(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor with a canceled ctx: got %v, want context.Canceled", err)
	}

	// A waiter blocked on a sequence that never comes returns when its
	// context ends.
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.WaitFor(ctx, 1) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("WaitFor ignored its context")
	}
}

func TestFailingApplierStopsRun(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.publish(t, "a")
	b.publish(t, "a")
	p := b.run(t, countApplier{fail: true})
	waitFor(t, p, 2)
	failed := b.publish(t, "fail")

	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run went on after the applier failed")
	}
	if !errors.Is(p.err, errBoom) {
		t.Fatalf("Run: got %v, want the applier's error", p.err)
	}
	// The failed batch left nothing behind, so a fixed applier resumes
	// with the message that failed.
	if got := p.Applied(); got != 2 {
		t.Fatalf("Applied: got %d, want 2", got)
	}
	b.wantAppliedOnce(t, 2)
	p2 := b.run(t, countApplier{})
	waitFor(t, p2, failed)
	b.wantAppliedOnce(t, failed)
}

func TestAppliesOnlyUnbrokenRuns(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	for range 6 {
		b.publish(t, "a")
	}
	stream, err := b.js.Stream(ctx, testStream)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(6, jetstream.FetchMaxWait(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 6 {
		t.Fatalf("fetched %d messages, want 6", len(msgs))
	}
	p := New(b.js, b.db, testStream, countApplier{}, quiet)
	seqs := func(ms []jetstream.Msg) string {
		var out []uint64
		for _, m := range ms {
			md, _ := m.Metadata()
			out = append(out, md.Sequence.Stream)
		}
		return fmt.Sprint(out)
	}

	// Out of order: 1 2 4 3 — apply 1 2, then report the gap.
	run, gap, err := p.contiguous(ctx, stream, []jetstream.Msg{msgs[0], msgs[1], msgs[3], msgs[2]})
	if err != nil || !gap || seqs(run) != "[1 2]" {
		t.Fatalf("out of order: got run %v gap %v err %v, want [1 2] and a gap", seqs(run), gap, err)
	}
	// Repeats of applied events are dropped.
	p.setApplied(2)
	run, gap, _ = p.contiguous(ctx, stream, []jetstream.Msg{msgs[1], msgs[2], msgs[3]})
	if gap || seqs(run) != "[3 4]" {
		t.Fatalf("repeats: got run %v gap %v, want [3 4]", seqs(run), gap)
	}
	// A jump over a deleted message is no gap.
	if err := stream.DeleteMsg(ctx, 5); err != nil {
		t.Fatal(err)
	}
	p.setApplied(4)
	run, gap, _ = p.contiguous(ctx, stream, []jetstream.Msg{msgs[5]})
	if gap || seqs(run) != "[6]" {
		t.Fatalf("deleted message: got run %v gap %v, want [6] and no gap", seqs(run), gap)
	}
	// The run's messages carry their parsed metadata.
	if _, ok := run[0].(*parsedMsg); !ok {
		t.Fatalf("run message is a %T, want *parsedMsg", run[0])
	}
}
