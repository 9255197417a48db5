package broker

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A schedule created with an idempotency key. The key is claimed first:
// its record, sched.once.<tenant>.<hash of the key>, is written expecting
// the subject to be empty (or to hold the expired record read), so that of
// two creates with one key, on one node or two, one claims it. The record
// holds the request's hash and the schedule as it is about to be written;
// the claimant then writes the schedule's state (expecting its subject to
// be empty too) and marks the record done. A repeat within the window
// reads the record: another request under the key is ErrIdempotencyMismatch;
// the same one answers the schedule. A record not yet done whose schedule
// is not there means the create was cut off (a crash, a lost
// acknowledgement) or is under way on another node: the repeat writes the
// recorded schedule itself, expecting its subject to be empty, so that
// whoever comes first writes it and the other reads it. A done record
// whose schedule is gone was deleted since: the repeat answers it as it
// was created, as a task's repeat does.

// schedOncePrefix begins the subjects of schedule creates' idempotency keys.
const schedOncePrefix = "sched.once."

// onceReadWait bounds how long a repeat waits for a record, or a schedule,
// that another node's create has on its way.
const onceReadWait = 2 * time.Second

// ScheduleOnce makes a schedule's create idempotent: see CreateOnce.
type ScheduleOnce struct {
	// Key is the client's idempotency key (per tenant, apart from its
	// tasks' keys).
	Key string
	// RequestHash identifies the request; a repeat with another is
	// ErrIdempotencyMismatch.
	RequestHash string
	// Window is how long the key answers its schedule
	// (DefaultIdempotencyWindow when 0).
	Window time.Duration
}

// onceRecord is what a claimed key records.
type onceRecord struct {
	RequestHash string    `json:"requestHash"`
	CreatedAt   time.Time `json:"createdAt"`
	// Done says the schedule was written.
	Done bool `json:"done,omitempty"`
	// Schedule is the schedule as created.
	Schedule *Schedule `json:"schedule"`
}

func scheduleOnceSubject(tenantID, key string) string {
	h := sha256.New()
	h.Write([]byte(tenantID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return schedOncePrefix + tenantID + "." + idEncoding.EncodeToString(h.Sum(nil)[:20])
}

// CreateOnce is Create with an idempotency key (once.Key "": Create).
// Within the window a repeat returns the schedule the key created, with
// replay true, or ErrIdempotencyMismatch for another request; two at once,
// on any nodes, create one schedule. After the window the key creates
// anew.
func (s *Schedules) CreateOnce(ctx context.Context, tenantID string, timing ScheduleTiming, task Spec, once ScheduleOnce) (sc *Schedule, replay bool, err error) {
	if once.Key == "" {
		sc, err := s.Create(ctx, tenantID, timing, task)
		return sc, false, err
	}
	if once.Window <= 0 {
		once.Window = DefaultIdempotencyWindow
	}
	subject := scheduleOnceSubject(tenantID, once.Key)
	for range 3 { // a claim lost to another create reads its record
		rec, seq, err := s.pub.onceRecord(ctx, subject)
		if err != nil {
			return nil, false, err
		}
		if rec != nil && s.now().Sub(rec.CreatedAt) <= once.Window {
			sc, err := s.repeat(ctx, subject, seq, rec, once)
			return sc, err == nil, err
		}
		sc, err := s.newSchedule(ctx, tenantID, timing, task)
		if err != nil {
			return nil, false, err
		}
		rec = &onceRecord{RequestHash: once.RequestHash, CreatedAt: sc.CreatedAt, Schedule: sc}
		claim, err := s.pub.writeOnce(ctx, subject, rec, seq, once.Window)
		if errors.Is(err, ErrConflict) {
			if err := s.pub.awaitOnceRecord(ctx, subject); err != nil {
				return nil, false, err
			}
			continue
		} else if err != nil {
			return nil, false, err
		}
		return s.complete(ctx, subject, claim, rec, once.Window)
	}
	return nil, false, fmt.Errorf("broker: schedule idempotency key: %w", ErrConflict)
}

// repeat answers a create repeated within the window of its key's record
// (at sequence seq).
func (s *Schedules) repeat(ctx context.Context, subject string, seq uint64, rec *onceRecord, once ScheduleOnce) (*Schedule, error) {
	if rec.RequestHash != once.RequestHash {
		return nil, ErrIdempotencyMismatch
	}
	first := rec.Schedule
	sc, err := s.Get(ctx, first.TenantID, first.ID)
	switch {
	case err == nil:
		return sc, nil
	case !errors.Is(err, ErrScheduleNotFound):
		return nil, err
	case rec.Done:
		return first, nil // deleted since: answered as it was created
	}
	sc, _, err = s.complete(ctx, subject, seq, rec, once.Window)
	return sc, err
}

// complete writes the schedule of a claimed key's record (at sequence
// claim) and marks the record done. When the schedule is there already
// (another node completed the create), it returns that one.
func (s *Schedules) complete(ctx context.Context, subject string, claim uint64, rec *onceRecord, window time.Duration) (*Schedule, bool, error) {
	sc := *rec.Schedule
	err := s.write(ctx, &sc, 0)
	if errors.Is(err, ErrConflict) {
		got, err := s.awaitSchedule(ctx, sc.TenantID, sc.ID)
		return got, false, err
	} else if err != nil {
		return nil, false, err
	}
	done := *rec
	done.Done = true
	if _, err := s.pub.writeOnce(ctx, subject, &done, claim, window); err != nil && !errors.Is(err, ErrConflict) {
		// The schedule stands; a repeat finds it, and only a deletion
		// before a repeat could then bring it back.
		s.logger.Warn("could not mark a schedule's idempotency key done", "tenant_id", sc.TenantID, "schedule_id", sc.ID, slog.Any("err", err))
	}
	return &sc, false, nil
}

// awaitSchedule reads a schedule another node has just written: a
// replica may not hold it yet.
func (s *Schedules) awaitSchedule(ctx context.Context, tenantID, id string) (*Schedule, error) {
	var sc *Schedule
	err := retryNotFound(ctx, func() (err error) {
		sc, err = s.Get(ctx, tenantID, id)
		if errors.Is(err, ErrScheduleNotFound) {
			return jetstream.ErrMsgNotFound
		}
		return err
	})
	return sc, err
}

// awaitOnceRecord waits for the record of a key another create has just
// claimed: a replicated stream refuses a second claim before the first is
// stored.
func (p *Publisher) awaitOnceRecord(ctx context.Context, subject string) error {
	return retryNotFound(ctx, func() error {
		rec, _, err := p.onceRecord(ctx, subject)
		if err == nil && rec == nil {
			return jetstream.ErrMsgNotFound
		}
		return err
	})
}

// retryNotFound calls read until it returns something but
// jetstream.ErrMsgNotFound, a little later each time, within onceReadWait.
func retryNotFound(ctx context.Context, read func() error) error {
	ctx, cancel := context.WithTimeout(ctx, onceReadWait)
	defer cancel()
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := read()
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("broker: schedule idempotency key: %w", ErrUnavailable)
		}
	}
}

// onceRecord reads a key's record and its sequence; nil and 0 when the
// key has none.
func (p *Publisher) onceRecord(ctx context.Context, subject string) (*onceRecord, uint64, error) {
	st, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return nil, 0, err
	}
	msg, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) && st.CachedInfo().Config.Replicas > 1 {
		msg, err = leaderLastMsg(ctx, p.js.Conn(), StreamSchedules, subject)
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, nil
	} else if err != nil {
		return nil, 0, fmt.Errorf("broker: read schedule idempotency key: %w", err)
	}
	var rec onceRecord
	if err := json.Unmarshal(msg.Data, &rec); err != nil {
		return nil, 0, fmt.Errorf("broker: decode schedule idempotency key: %w", err)
	}
	if rec.Schedule == nil {
		return nil, 0, errors.New("broker: schedule idempotency key without its schedule")
	}
	return &rec, msg.Sequence, nil
}

// writeOnce writes a key's record after sequence prev (0: the first),
// living for the window (a repeat also checks its time), and returns its
// sequence, or ErrConflict when another write came first.
func (p *Publisher) writeOnce(ctx context.Context, subject string, rec *onceRecord, prev uint64, window time.Duration) (uint64, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("broker: encode schedule idempotency key: %w", err)
	}
	msg := nats.NewMsg(subject)
	msg.Header.Set("Nats-Rollup", "sub")
	msg.Data = data
	ttl := (window + time.Minute).Truncate(time.Second)
	return p.publish(ctx, msg, jetstream.WithExpectLastSequencePerSubject(prev), jetstream.WithMsgTTL(ttl))
}
