package projector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
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

// countApplier counts, in bucket "applied" of the view, how many times each
// stream sequence was applied. It skips a message "bad" as malformed.
type countApplier struct{}

var bucketApplied = []byte("applied")

func (a countApplier) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	b, err := tx.CreateBucketIfNotExists(bucketApplied)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if string(m.Data()) == "bad" {
			m.(Skipper).Skip("bad data")
			continue
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
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
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
	case <-time.After(testenv.GiveUpAfter):
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
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
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
	case <-time.After(testenv.GiveUpAfter):
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
	case <-time.After(testenv.GiveUpAfter):
		t.Fatal("WaitFor ignored its context")
	}
}

// errDisk is the write error brokenApplier fails with.
var errDisk = errors.New("write view.db: input/output error")

// brokenApplier wraps an applier and, while broken, fails every batch as a
// failing disk would: after the applier has written it, so the projector
// must roll those writes back.
type brokenApplier struct {
	Applier
	broken   atomic.Bool
	failures atomic.Int64
}

func (a *brokenApplier) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	after, err := a.Applier.Apply(tx, msgs)
	if err == nil && a.broken.Load() {
		a.failures.Add(1)
		return nil, errDisk
	}
	return after, err
}

// poll waits until cond holds, failing the test after
// testenv.GiveUpAfter.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitUntil(t, what, func() (bool, string) { return cond(), "not yet" })
}

// TestWriteFailuresAreRetriedAndLoseNothing: while writes to the view fail,
// nothing of the failing batches is kept, the stored sequence stays, Err
// says so and Run goes on retrying; once writes work again every message
// is applied exactly once, malformed ones skipped and counted once.
func TestWriteFailuresAreRetriedAndLoseNothing(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.publish(t, "a")
	b.publish(t, "a")
	applier := &brokenApplier{Applier: countApplier{}}
	p := b.run(t, applier)
	waitFor(t, p, 2)
	if err := p.Err(); err != nil {
		t.Fatalf("Err while healthy: got %v, want nil", err)
	}

	applier.broken.Store(true)
	b.publish(t, "a")
	b.publish(t, "bad")
	last := b.publish(t, "a")
	poll(t, "a retry of the failed batch", func() bool { return applier.failures.Load() >= 2 })
	if err := p.Err(); !errors.Is(err, errDisk) {
		t.Fatalf("Err while writes fail: got %v, want the write error", err)
	}
	if got := p.Applied(); got != 2 {
		t.Fatalf("Applied while writes fail: got %d, want 2", got)
	}
	b.wantAppliedOnce(t, 2)
	if n := p.Skipped(); n != 0 {
		t.Fatalf("Skipped before any batch with the bad message committed: got %d, want 0", n)
	}

	applier.broken.Store(false)
	waitFor(t, p, last)
	if err := p.Err(); err != nil {
		t.Fatalf("Err after recovery: got %v, want nil", err)
	}
	if n := p.Skipped(); n != 1 {
		t.Fatalf("Skipped: got %d, want 1", n)
	}
	counts, stored := b.applied(t)
	if stored != last || len(counts) != 4 || counts[4] != 0 {
		t.Fatalf("after recovery: stored %d, applied %v; want %d, every message once but the bad one", stored, counts, last)
	}
	select {
	case <-p.done:
		t.Fatalf("Run returned %v; want it still running", p.err)
	default:
	}
}

// TestClosedViewStopsRun: a closed view file cannot be mended by retrying:
// Run returns its error, and the node stops.
func TestClosedViewStopsRun(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.publish(t, "a")
	p := b.run(t, countApplier{})
	waitFor(t, p, 1)
	if err := b.db.Close(); err != nil {
		t.Fatal(err)
	}
	b.publish(t, "a")
	select {
	case <-p.done:
	case <-time.After(testenv.GiveUpAfter):
		t.Fatal("Run went on with a closed view")
	}
	if !errors.Is(p.err, berrors.ErrDatabaseNotOpen) {
		t.Fatalf("Run: got %v, want the closed view's error", p.err)
	}
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
	batch, err := cons.Fetch(6, jetstream.FetchMaxWait(testenv.GiveUpAfter))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*parsedMsg
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		msgs = append(msgs, &parsedMsg{Msg: m, meta: meta, metaErr: err})
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
	run, gap, err := p.contiguous(ctx, stream, []*parsedMsg{msgs[0], msgs[1], msgs[3], msgs[2]})
	if err != nil || !gap || seqs(run) != "[1 2]" {
		t.Fatalf("out of order: got run %v gap %v err %v, want [1 2] and a gap", seqs(run), gap, err)
	}
	// Repeats of applied events are dropped.
	p.setApplied(2)
	run, gap, _ = p.contiguous(ctx, stream, []*parsedMsg{msgs[1], msgs[2], msgs[3]})
	if gap || seqs(run) != "[3 4]" {
		t.Fatalf("repeats: got run %v gap %v, want [3 4]", seqs(run), gap)
	}
	// A jump over a deleted message is no gap.
	if err := stream.DeleteMsg(ctx, 5); err != nil {
		t.Fatal(err)
	}
	p.setApplied(4)
	run, gap, _ = p.contiguous(ctx, stream, []*parsedMsg{msgs[5]})
	if gap || seqs(run) != "[6]" {
		t.Fatalf("deleted message: got run %v gap %v, want [6] and no gap", seqs(run), gap)
	}
	// The run's messages carry their parsed metadata.
	if _, ok := run[0].(*parsedMsg); !ok {
		t.Fatalf("run message is a %T, want *parsedMsg", run[0])
	}
}

// prepApplier is a Preparer: Prepare returns each message's data in upper
// case, and Apply fails the batch if a message does not carry it.
type prepApplier struct {
	countApplier
	seen atomic.Int64
}

func (a *prepApplier) Prepare(m jetstream.Msg) any { return strings.ToUpper(string(m.Data())) }

func (a *prepApplier) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	for _, m := range msgs {
		if got := m.(Prepared).Prepared(); got != strings.ToUpper(string(m.Data())) {
			return nil, fmt.Errorf("prepared %v for %q", got, m.Data())
		}
		a.seen.Add(1)
	}
	return a.countApplier.Apply(tx, msgs)
}

// TestPreparedArrivesWithItsMessage: what a Preparer made of a message
// reaches Apply with that message, while catching up and after.
func TestPreparedArrivesWithItsMessage(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	for _, s := range []string{"a", "b", "c"} {
		b.publish(t, s)
	}
	applier := &prepApplier{}
	p := b.run(t, applier)
	waitFor(t, p, 3)
	last := b.publish(t, "d")
	waitFor(t, p, last)
	if p.Err() != nil || applier.seen.Load() != 4 {
		t.Fatalf("got %d prepared messages applied, err %v; want 4 and none", applier.seen.Load(), p.Err())
	}
	b.wantAppliedOnce(t, last)
}
