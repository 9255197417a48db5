package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// keyState reads a key's state and its sequence (0 and a nil state when
// the key has none). leader asks the stream's leader, not any replica: a
// compare-and-set that failed re-reads from it.
func (p *Publisher) keyState(ctx context.Context, k keyRef, leader bool) (*keyState, uint64, error) {
	st, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return nil, 0, err
	}
	var msg *jetstream.RawStreamMsg
	if leader && st.CachedInfo().Config.Replicas > 1 {
		msg, err = leaderLastMsg(ctx, p.js.Conn(), StreamSchedules, k.stateSubject())
	} else {
		msg, err = st.GetLastMsgForSubject(ctx, k.stateSubject())
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	} else if err != nil {
		return nil, 0, fmt.Errorf("broker: read key state: %w", err)
	}
	var s keyState
	if err := json.Unmarshal(msg.Data, &s); err != nil {
		return nil, 0, fmt.Errorf("broker: decode key state: %w", err)
	}
	return &s, msg.Sequence, nil
}

// KeyIdleTTL is how long a key nothing holds, and that is not paused,
// keeps its state after its last change: then the stream forgets it (a
// per-message TTL), so a tenant that uses a key per customer or per order
// does not leave a state message behind for each, forever. A forgotten
// key is a new key to its next task, and GET answers 404 for it.
const KeyIdleTTL = time.Hour

// writeKeyState stores s as the key's state after sequence prev (0: the
// key has none), or returns ErrConflict when another write came first.
func (p *Publisher) writeKeyState(ctx context.Context, k keyRef, s *keyState, prev uint64) (uint64, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("broker: encode key state: %w", err)
	}
	msg := nats.NewMsg(k.stateSubject())
	msg.Header.Set("Nats-Rollup", "sub")
	msg.Data = data
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(prev)}
	if ttl := p.stateTTL(s); ttl > 0 {
		opts = append(opts, jetstream.WithMsgTTL(ttl))
	}
	return p.publish(ctx, msg, opts...)
}

// stateTTL is how long a state written now may live unchanged: forever
// (0) while a task holds a slot or the key is paused; else keyIdleTTL,
// plus the rate's period, past which its theoretical arrival time no
// longer holds anything back (a fresh state is then the same key). Work
// still waiting in an idle key's queue is kicked, and its admission
// writes the state again long before then. Whole seconds: the server's
// TTL unit.
func (p *Publisher) stateTTL(s *keyState) time.Duration {
	if len(s.Holding) > 0 || s.Paused || p.keyIdleTTL <= 0 {
		return 0
	}
	ttl := p.keyIdleTTL
	if s.Rate > 0 {
		ttl += FlowControl{Period: s.Period}.PeriodDuration()
	}
	return (ttl + time.Second - 1).Truncate(time.Second)
}

// changeKey applies fn to the key's state (a new one when it has none)
// and writes it, again from a fresh read while another write comes first.
// fn returns false when it changed nothing (then nothing is written).
func (p *Publisher) changeKey(ctx context.Context, k keyRef, fn func(*keyState) bool) (*keyState, error) {
	for try := 0; ; try++ {
		s, seq, err := p.keyState(ctx, k, try > 0)
		if err != nil {
			return nil, err
		}
		if s == nil {
			s = &keyState{Kind: k.Kind, Key: k.Key}
		}
		if !fn(s) {
			return s, nil
		}
		_, err = p.writeKeyState(ctx, k, s, seq)
		if !errors.Is(err, ErrConflict) {
			return s, err
		}
		if try >= maxKeyTries {
			return nil, fmt.Errorf("broker: key state: %w", err)
		}
		sleep(ctx, keyRetryPause(try))
	}
}

// maxKeyTries bounds the compare-and-set retries of one change.
const maxKeyTries = 50

// keyRetryPause spreads the retries of nodes that collide on a key.
func keyRetryPause(try int) time.Duration {
	return time.Duration(1+try%8) * time.Millisecond
}

// enqueueKey appends a due to its key's queue (once: the message id is
// the task's and attempt's) and kicks the key.
func (p *Publisher) enqueueKey(ctx context.Context, k keyRef, due taskDue) error {
	due.Admitted = false
	data, err := encodeFit(due, p.maxData())
	if err != nil {
		return fmt.Errorf("broker: encode key entry: %w", err)
	}
	msg := nats.NewMsg(k.queueSubject())
	msg.Header.Set(jetstream.MsgIDHeader, "keyq:"+k.TenantID+":"+due.TaskID+":"+strconv.Itoa(due.Attempt))
	msg.Data = data
	if _, err := p.publish(ctx, msg); err != nil {
		return err
	}
	return p.kickKey(ctx, k)
}

// kickKey asks a node to run the key's admitter.
func (p *Publisher) kickKey(ctx context.Context, k keyRef) error {
	_, err := p.publish(ctx, nats.NewMsg(k.kickSubject()))
	return err
}

// releaseKey gives back the slot the task holds for an attempt up to
// attempt (0: whichever), if it holds one, and kicks the key. Safe to
// repeat; a stale due of an earlier attempt does not release a later one.
func (p *Publisher) releaseKey(ctx context.Context, k keyRef, taskID string, attempt int) error {
	if _, err := p.changeKey(ctx, k, func(s *keyState) bool { return s.release(taskID, attempt) }); err != nil {
		return err
	}
	return p.kickKey(ctx, k)
}

// readKeyQueue reads up to a batch of the key's waiting entries after
// sequence after.
func (p *Publisher) readKeyQueue(ctx context.Context, k keyRef, after uint64) ([]parkedWait, error) {
	return p.readParked(ctx, k.queueSubject(), after+1)
}

// trimKeyQueue removes the queue's entries up to and including seq (best
// effort: the state's Admitted sequence skips them anyway).
func (p *Publisher) trimKeyQueue(ctx context.Context, k keyRef, seq uint64, logger *slog.Logger) {
	st, err := p.stream(ctx, StreamSchedules)
	if err == nil {
		err = st.Purge(ctx, jetstream.WithPurgeSubject(k.queueSubject()), jetstream.WithPurgeSequence(seq+1))
	}
	if err != nil {
		logger.Warn("could not trim a key's queue", "tenant_id", k.TenantID, slog.Any("err", err))
	}
}

// armKeyTimer makes the key's one pending schedule kick it at the given
// time (a later one replaces it: either way a kick admits what it can).
func (p *Publisher) armKeyTimer(ctx context.Context, k keyRef, at time.Time) error {
	_, err := p.publish(ctx, scheduleMsg(k.timerSubject(), at, nil))
	return err
}

// Keys is what the API does with ordering and flow-control keys: show
// one, pause and resume it.
type Keys struct {
	pub *Publisher
}

// NewKeys returns the key operations on pub's streams.
func NewKeys(pub *Publisher) *Keys { return &Keys{pub: pub} }

// Get returns a key of the tenant of a kind (KeyOrdering or
// KeyFlowControl), or ErrKeyNotFound.
func (ks *Keys) Get(ctx context.Context, tenantID, kind, key string) (*KeyInfo, error) {
	k := keyRef{TenantID: tenantID, Kind: kind, Key: key}
	s, _, err := ks.pub.keyState(ctx, k, false)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, ErrKeyNotFound
	}
	info := &KeyInfo{Key: key, Kind: kind, Parallelism: s.Parallelism, Rate: s.Rate, Period: s.Period,
		Paused: s.Paused, InFlight: len(s.Holding), Holding: []string{}, Queue: []string{}}
	if s.Rate > 0 && info.Period == "" {
		info.Period = DefaultKeyPeriod.String()
	}
	if kind == KeyOrdering {
		info.Parallelism = 1 // also for a key paused before any task used it
	}
	for _, h := range s.Holding {
		info.Holding = append(info.Holding, h.TaskID)
	}
	return info, ks.listQueue(ctx, k, s, info)
}

// listQueue counts the key's waiting entries and lists the first ones.
func (ks *Keys) listQueue(ctx context.Context, k keyRef, s *keyState, info *KeyInfo) error {
	st, err := ks.pub.stream(ctx, StreamSchedules)
	if err != nil {
		return err
	}
	si, err := st.Info(ctx, jetstream.WithSubjectFilter(k.queueSubject()))
	if err != nil {
		return fmt.Errorf("broker: key queue: %w", err)
	}
	batch, err := ks.pub.readKeyQueue(ctx, k, s.Admitted)
	if err != nil {
		return err
	}
	size := 0
	for _, e := range batch {
		size += len(e.data)
		var due taskDue
		if json.Unmarshal(e.data, &due) == nil && len(info.Queue) < MaxKeyQueueListed {
			info.Queue = append(info.Queue, due.TaskID)
		}
	}
	// A batch that did not fill (in number or in bytes) is the whole
	// queue; past that, the stream's count of the queue's subject, whose
	// entries are trimmed right after each admission.
	info.Waiting = len(batch)
	if len(batch) >= promoteBatch || size >= promoteBytes/2 {
		info.Waiting = max(info.Waiting, int(si.State.Subjects[k.queueSubject()]))
	}
	return nil
}

// Pause stops the key's admissions (work in flight goes on); Resume
// starts them again. A key no task has used yet can be paused: it is a
// flow-control key then, configured by its first task.
func (ks *Keys) Pause(ctx context.Context, tenantID, kind, key string) (*KeyInfo, error) {
	return ks.setPaused(ctx, keyRef{TenantID: tenantID, Kind: kind, Key: key}, true)
}

// Resume lets the key admit again, or returns ErrKeyNotFound.
func (ks *Keys) Resume(ctx context.Context, tenantID, kind, key string) (*KeyInfo, error) {
	return ks.setPaused(ctx, keyRef{TenantID: tenantID, Kind: kind, Key: key}, false)
}

func (ks *Keys) setPaused(ctx context.Context, k keyRef, paused bool) (*KeyInfo, error) {
	if _, err := ks.pub.changeKey(ctx, k, func(s *keyState) bool {
		if s.Paused == paused {
			return false
		}
		s.Paused = paused
		return true
	}); err != nil {
		return nil, err
	}
	if !paused {
		if err := ks.pub.kickKey(ctx, k); err != nil {
			return nil, err
		}
	}
	return ks.Get(ctx, k.TenantID, k.Kind, k.Key)
}
