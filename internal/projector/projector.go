// Package projector keeps a bbolt view of one JetStream stream: an ordered
// consumer reads the stream from the sequence after the last one applied,
// and an Applier turns each batch of messages into changes to the view, in
// one bbolt transaction that also stores the batch's last sequence. A replay
// after a restart or a crash therefore never applies a message twice, and a
// deleted view file is rebuilt from the stream.
//
// Both of Boomerang's views use it: the task view (broker.View) and the
// tenant view (tenant.Store). It imports nothing of Boomerang's.
//
// The stored sequence of stream S is the 8-byte big-endian value of key
// "seq/S" in the top-level bucket "meta": existing view files depend on
// that layout.
//
// Failures. A message the Applier cannot use (undecodable, or an event that
// makes no sense) is skipped: logged with its stream sequence and counted
// (Skipped), and the batch goes on. Anything else that goes wrong while
// projecting — a bbolt write or commit that fails (a full or failing disk),
// the stream unreachable — loses nothing: the batch is rolled back, Err
// reports the failure (the node's /readyz turns unready) and the projector
// starts again from the last applied sequence, with backoff (100 ms
// doubling to 30 s), for as long as it takes. Run returns, which stops the
// node, only for what no retry can mend: the stored sequence cannot be
// read, the stream does not exist at start, or the view file is closed or
// read-only.
package projector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// bucketMeta holds each projected stream's last applied sequence under
// seqKey. Part of the view file's layout: do not change.
var bucketMeta = []byte("meta")

// Applier turns a batch of stream messages into changes to the view. Apply
// runs inside the batch's write transaction and must be deterministic: the
// same messages give the same view on every node and on every rebuild.
//
// It tells two failures apart. A message it cannot use it skips, calling
// Skip on it (every message handed to Apply is a Skipper), and goes on. An
// error writing the view it returns: the batch is rolled back and tried
// again later, so an error must never follow from a message's content
// (validate before writing), or the projector would retry it for ever.
// afterCommit, when not nil, runs once the transaction has committed.
type Applier interface {
	Apply(tx *bolt.Tx, msgs []jetstream.Msg) (afterCommit func(), err error)
}

// Preparer is an Applier that does work of its own per message before the
// message's batch is applied — decoding it, typically. Prepare runs on the
// consumer's delivery goroutine, in stream order, while the projector's
// goroutine applies the batch before: the two overlap. It must not touch
// the view, and it may run for a message that is then dropped as a repeat.
// What it returns, Apply finds through the message's Prepared method
// (every message handed to Apply has one, see Prepared).
type Preparer interface {
	Prepare(m jetstream.Msg) any
}

// Prepared is implemented by every message the projector hands an
// Applier: Prepared returns what the applier's Prepare returned for it,
// nil when the applier is not a Preparer.
type Prepared interface {
	Prepared() any
}

// Skipper is implemented by every message the projector hands an Applier.
// Skip marks the message as one the applier could not use, saying why: the
// projector logs it with its stream sequence and counts it once the batch
// has committed.
type Skipper interface {
	Skip(reason string)
}

// Projector keeps a bbolt view of one stream. It reads the stream with an
// ordered consumer from the sequence after the last one applied and applies
// messages in batches, one transaction each, storing the last applied
// sequence in the same transaction: a replay never applies a message twice.
type Projector struct {
	js      jetstream.JetStream
	db      *bolt.DB
	stream  string
	applier Applier
	logger  *slog.Logger
	batch   int

	mu      sync.Mutex
	applied uint64
	changed chan struct{} // closed and replaced after each commit
	ready   chan struct{}
	isReady bool
	failing error // the last batch's failure, until a batch commits

	skipped atomic.Uint64
	retry   *backoff.ExponentialBackOff // used by Run's goroutine only

	startedAt   time.Time // when Run began, to report how fast the view caught up
	startedFrom uint64
}

// New returns a projector of stream into db through applier. Nothing runs
// until Run.
func New(js jetstream.JetStream, db *bolt.DB, stream string, applier Applier, logger *slog.Logger) *Projector {
	return &Projector{
		js: js, db: db, stream: stream, applier: applier,
		logger:  logger.With("component", "projector", "stream", stream),
		batch:   1000,
		changed: make(chan struct{}),
		ready:   make(chan struct{}),
		retry: backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
			backoff.WithMaxInterval(30*time.Second), backoff.WithMaxElapsedTime(0)),
	}
}

// Err returns why the last batch could not be applied, until one is: the
// view is then falling behind the stream, and the node is not ready.
func (p *Projector) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failing
}

// Skipped returns how many messages the applier skipped as unusable since
// the projector was made.
func (p *Projector) Skipped() uint64 { return p.skipped.Load() }

// Applied returns the last stream sequence applied to the view.
func (p *Projector) Applied() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied
}

// Ready is closed once the view has caught up with the stream as it was
// when Run started.
func (p *Projector) Ready() <-chan struct{} { return p.ready }

// WaitFor blocks until the view has applied seq or ctx ends.
func (p *Projector) WaitFor(ctx context.Context, seq uint64) error {
	for {
		p.mu.Lock()
		applied, changed := p.applied, p.changed
		p.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// errGap says the consumer delivered a sequence out of order or skipped one
// that exists: the projector starts a new consumer from where it stands.
var errGap = errors.New("events out of order")

// errStalled says the consumer has delivered nothing for stallAfter while
// the stream holds events after the last one applied: the projector starts
// a new consumer from where it stands.
var errStalled = errors.New("consumer stalled")

// stallAfter is how long a consumer may deliver nothing while the stream is
// ahead of the view. An ordered consumer is kept by one server, and reads
// that server's copy of the stream: a copy that has fallen behind (a
// server back from a partition, rejoining its stream's group, can take a
// minute) holds the view back, though the consumer's heartbeats are fine.
// A new consumer is placed afresh, most likely on a copy that is current.
const stallAfter = 5 * time.Second

// CatchUp waits until the view has applied everything the stream held when
// it was called: for a read that missed and may be ahead of this node.
func (p *Projector) CatchUp(ctx context.Context) error {
	_, state, err := p.streamState(ctx)
	if err != nil {
		return err
	}
	return p.WaitFor(ctx, state.LastSeq)
}

// streamState returns the projected stream and what it holds now: looking
// the stream up fetches its info, which the handle keeps.
func (p *Projector) streamState(ctx context.Context) (jetstream.Stream, jetstream.StreamState, error) {
	stream, err := p.js.Stream(ctx, p.stream)
	if err != nil {
		return nil, jetstream.StreamState{}, fmt.Errorf("projector %s: %w", p.stream, err)
	}
	return stream, stream.CachedInfo().State, nil
}

// Run projects until ctx ends. It retries what fails and returns an error
// only for what retrying cannot mend (see the package documentation).
func (p *Projector) Run(ctx context.Context) error {
	applied, err := p.loadApplied()
	if err != nil {
		return err
	}
	p.setApplied(applied)
	p.mu.Lock()
	p.startedAt, p.startedFrom = time.Now(), applied
	p.mu.Unlock()
	stream, state, err := p.streamState(ctx)
	if err != nil {
		return err
	}
	target := state.LastSeq
	p.markReadyIfCaughtUp(target)
	if applied == 0 {
		p.logger.Info("building view from the stream", "events", state.Msgs)
	}
	for {
		err := p.consume(ctx, stream, target)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errGap):
			p.logger.Warn("events arrived out of order; resuming from the last applied one", "applied", p.Applied())
			continue
		case errors.Is(err, errStalled):
			p.logger.Warn("the stream's consumer delivered nothing while the stream is ahead of the view; starting a new one",
				"applied", p.Applied(), "idle", stallAfter)
			continue
		case fatal(err):
			return err
		}
		wait := p.retry.NextBackOff()
		p.logger.Error("projecting failed; nothing of the batch was kept, retrying from the last applied event",
			"err", err, "applied", p.Applied(), "retry_in", wait)
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// fatal reports whether err cannot be mended by trying again: the view
// file is closed (the node is going down, or something closed it under
// the projector) or was opened read-only.
func fatal(err error) bool {
	return errors.Is(err, berrors.ErrDatabaseNotOpen) || errors.Is(err, berrors.ErrDatabaseReadOnly)
}

// sleep waits for d or until ctx ends, reporting false in the second case.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// consume reads the stream from the event after the last applied one and
// applies what arrives in batches. Only an unbroken run of sequences is
// applied: anything else ends it with errGap.
func (p *Projector) consume(ctx context.Context, stream jetstream.Stream, target uint64) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cons, err := p.js.OrderedConsumer(cctx, p.stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   p.Applied() + 1,
	})
	if err != nil {
		return fmt.Errorf("projector %s: consumer: %w", p.stream, err)
	}
	incoming := make(chan *parsedMsg, p.batch)
	preparer, _ := p.applier.(Preparer)
	consumeCtx, err := cons.Consume(func(m jetstream.Msg) {
		pm := &parsedMsg{Msg: m}
		pm.meta, pm.metaErr = m.Metadata()
		if preparer != nil && pm.metaErr == nil {
			pm.prepared = preparer.Prepare(pm)
		}
		select {
		case incoming <- pm:
		case <-cctx.Done():
		}
	}, jetstream.PullMaxMessages(p.batch))
	if err != nil {
		return fmt.Errorf("projector %s: consume: %w", p.stream, err)
	}
	defer consumeCtx.Stop()

	batch := make([]*parsedMsg, 0, p.batch)
	watch := time.NewTicker(stallAfter / 2)
	defer watch.Stop()
	lastDelivery := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-watch.C:
			if time.Since(lastDelivery) >= stallAfter && p.behind(ctx, stream) {
				return errStalled
			}
		case m := <-incoming:
			lastDelivery = time.Now()
			batch = append(batch[:0], m)
			batch = p.gather(incoming, batch)
			run, gap, err := p.contiguous(ctx, stream, batch)
			if err != nil {
				return err
			}
			if len(run) > 0 {
				last, err := p.apply(run)
				if err != nil {
					p.setFailing(err)
					return err
				}
				p.setApplied(last)
				p.retry.Reset()
				p.markReadyIfCaughtUp(target)
			}
			if gap {
				return errGap
			}
		}
	}
}

// linger is how long a small batch waits for more events: a transaction
// costs about the same for one event as for a hundred, so under load a
// short wait buys much larger batches. It bounds the delay it adds to the
// view.
const linger = time.Millisecond

// gather adds what has already arrived to batch, then, while the batch is
// small, what arrives within linger. (Larger batches while catching up
// were tried: 3,000 and 10,000 events per transaction rebuilt no faster
// than 1,000 — bbolt's nodes grow within a transaction, and so does the
// cost of inserting into them.)
func (p *Projector) gather(incoming <-chan *parsedMsg, batch []*parsedMsg) []*parsedMsg {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(batch) < p.batch {
		select {
		case m := <-incoming:
			batch = append(batch, m)
			continue
		default:
		}
		if len(batch) >= p.batch/8 {
			return batch
		}
		if timer == nil {
			timer = time.NewTimer(linger)
		}
		select {
		case m := <-incoming:
			batch = append(batch, m)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// contiguous returns the longest prefix of batch that continues the applied
// sequence, dropping repeats. A jump over sequences that no longer exist in
// the stream (expired or deleted) is part of the run; a jump over ones that
// exist, or a step back, ends it and reports a gap. The run's messages
// carry their parsed metadata, for apply and the applier to reuse.
func (p *Projector) contiguous(ctx context.Context, stream jetstream.Stream, batch []*parsedMsg) ([]jetstream.Msg, bool, error) {
	next := p.Applied() + 1
	run := make([]jetstream.Msg, 0, len(batch))
	for _, m := range batch {
		if m.metaErr != nil {
			return nil, false, fmt.Errorf("projector %s: metadata: %w", p.stream, m.metaErr)
		}
		seq := m.meta.Sequence.Stream
		switch {
		case seq < next:
			continue // a repeat after a restart
		case seq > next:
			exists, err := p.anyExists(ctx, stream, next, seq)
			if err != nil {
				return nil, false, err
			}
			if exists {
				return run, true, nil
			}
		}
		run = append(run, m)
		next = seq + 1
	}
	return run, false, nil
}

// parsedMsg is a message whose metadata has been parsed once: Metadata
// returns it without parsing the reply subject again. It is the Skipper
// the applier marks, and carries what the applier prepared.
type parsedMsg struct {
	jetstream.Msg
	meta     *jetstream.MsgMetadata
	metaErr  error
	prepared any
	skipped  string // why the applier skipped it
}

// Prepared returns what the applier's Prepare made of the message.
func (m *parsedMsg) Prepared() any { return m.prepared }

// Metadata returns the parsed metadata.
func (m *parsedMsg) Metadata() (*jetstream.MsgMetadata, error) { return m.meta, m.metaErr }

// Skip marks the message as unusable.
func (m *parsedMsg) Skip(reason string) {
	if reason == "" {
		reason = "unusable"
	}
	m.skipped = reason
}

// behind reports whether the stream's leader holds an event after the last
// one applied. Errors say no: the consumer is then not to blame.
func (p *Projector) behind(ctx context.Context, stream jetstream.Stream) bool {
	info, err := stream.Info(ctx)
	if err != nil || info.State.LastSeq <= p.Applied() {
		return false
	}
	_, err = stream.GetMsg(ctx, info.State.LastSeq) // not a deleted one
	return err == nil
}

// anyExists reports whether the stream still holds a message with a
// sequence in [from, to).
func (p *Projector) anyExists(ctx context.Context, stream jetstream.Stream, from, to uint64) (bool, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("projector %s: %w", p.stream, err)
	}
	if to <= info.State.FirstSeq {
		return false, nil // the missing ones aged out
	}
	for seq := max(from, info.State.FirstSeq); seq < to; seq++ {
		_, err := stream.GetMsg(ctx, seq)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return false, fmt.Errorf("projector %s: get %d: %w", p.stream, seq, err)
		}
	}
	return false, nil
}

func (p *Projector) apply(batch []jetstream.Msg) (uint64, error) {
	meta, err := batch[len(batch)-1].Metadata()
	if err != nil {
		return 0, fmt.Errorf("projector %s: metadata: %w", p.stream, err)
	}
	last := meta.Sequence.Stream
	var afterCommit func()
	err = p.db.Update(func(tx *bolt.Tx) error {
		var err error
		if afterCommit, err = p.applier.Apply(tx, batch); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(p.seqKey(), binary.BigEndian.AppendUint64(nil, last))
	})
	if err != nil {
		return 0, fmt.Errorf("projector %s: apply: %w", p.stream, err)
	}
	if afterCommit != nil {
		afterCommit()
	}
	for _, m := range batch {
		if pm, ok := m.(*parsedMsg); ok && pm.skipped != "" {
			p.skipped.Add(1)
			p.logger.Warn("skipped an event the view cannot use", "seq", pm.meta.Sequence.Stream, "subject", pm.Subject(), "reason", pm.skipped)
		}
	}
	return last, nil
}

func (p *Projector) seqKey() []byte { return seqKey(p.stream) }

func seqKey(stream string) []byte { return []byte("seq/" + stream) }

func (p *Projector) loadApplied() (uint64, error) {
	var seq uint64
	err := p.db.View(func(tx *bolt.Tx) error {
		var err error
		seq, err = LastApplied(tx, p.stream)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("projector %s: load sequence: %w", p.stream, err)
	}
	return seq, nil
}

// LastApplied returns the last sequence of stream applied to the view in
// tx (zero for none): within Apply, the sequence before the batch's first
// message.
func LastApplied(tx *bolt.Tx, stream string) (uint64, error) {
	b := tx.Bucket(bucketMeta)
	if b == nil {
		return 0, nil
	}
	v := b.Get(seqKey(stream))
	switch {
	case len(v) == 8:
		return binary.BigEndian.Uint64(v), nil
	case v != nil:
		return 0, errors.New("corrupt sequence")
	}
	return 0, nil
}

// setFailing records why a batch could not be applied.
func (p *Projector) setFailing(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing = err
}

// setApplied records a committed batch: the view has moved on, and is no
// longer failing.
func (p *Projector) setApplied(seq uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failing = nil
	p.applied = seq
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Projector) markReadyIfCaughtUp(target uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isReady && p.applied >= target {
		p.isReady = true
		close(p.ready)
		if n := p.applied - p.startedFrom; n > 0 {
			secs := time.Since(p.startedAt).Seconds()
			p.logger.Info("view caught up with the stream", "events", n, "seconds", secs, "events_per_second", float64(n)/secs)
		}
	}
}
