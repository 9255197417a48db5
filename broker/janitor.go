package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/jsensure"
)

// The janitor applies the tenants' retention without a leader: a repeating
// message schedule in the schedules stream (sched.prune, "@every
// <interval>") fires due.prune, the shared durable consumer "prune" hands
// each firing to one node, and that node publishes a prune event for every
// tenant that has something to drop. The events, not the nodes' clocks,
// decide what leaves every view (prune.go).
const (
	pruneScheduleSubject = "sched.prune"
	pruneDueSubject      = "due.prune"
	consumerPrune        = "prune"
)

// DefaultPruneInterval is how often the janitor runs by default.
const DefaultPruneInterval = time.Hour

// JanitorConfig configures a Janitor.
type JanitorConfig struct {
	// Interval is how often a prune runs, on one node of all (default
	// DefaultPruneInterval; at least a second).
	Interval time.Duration
	// Retention returns how long the tenant's finished tasks stay in the
	// view; zero keeps them.
	Retention func(tenantID string) time.Duration
	// AckWait must match the consumers' (StreamOptions.AckWait).
	AckWait time.Duration
	// Now is the clock the cutoffs are computed from; nil means time.Now.
	Now func() time.Time
	// Telemetry counts the prune consumer's redeliveries (the zero value:
	// nothing).
	Telemetry Telemetry
}

// Janitor publishes the prune events that apply each tenant's retention.
type Janitor struct {
	js     jetstream.JetStream
	pub    *Publisher
	view   *View
	logger *slog.Logger
	cfg    JanitorConfig
}

// NewJanitor returns a janitor that reads this node's view to find the
// tenants with something to prune and publishes with pub.
func NewJanitor(js jetstream.JetStream, pub *Publisher, view *View, logger *slog.Logger, cfg JanitorConfig) *Janitor {
	if cfg.Interval < time.Second {
		cfg.Interval = DefaultPruneInterval
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention == nil {
		cfg.Retention = func(string) time.Duration { return 0 }
	}
	return &Janitor{js: js, pub: pub, view: view, logger: logger.With("component", "janitor"), cfg: cfg}
}

// Run keeps the prune schedule at the configured interval and prunes each
// time the schedule fires and the shared consumer hands the firing to this
// node, until ctx ends.
func (j *Janitor) Run(ctx context.Context) error {
	if err := jsensure.Do(ctx, j.logger, "waiting to write the prune schedule", j.ensureSchedule); err != nil {
		return err
	}
	cons, err := jsensure.LookupConsumer(ctx, j.js, StreamSchedules, consumerPrune, j.logger)
	if err != nil {
		return fmt.Errorf("broker: prune consumer: %w", err)
	}
	s := newSlots(1)
	fetchLoop(ctx, cons, s, 1, j.logger, nil, countRedeliveries(j.cfg.Telemetry.observer(), consumerPrune, j.handle))
	s.wg.Wait()
	return nil
}

// handle prunes for one firing of the schedule; a failure leaves the firing
// to be redelivered (duplicate prune events are harmless).
func (j *Janitor) handle(msg jetstream.Msg) {
	stop := keepAlive(msg, j.cfg.AckWait/3)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := j.Prune(ctx)
	if err != nil {
		j.logger.Warn("prune failed; will retry", slog.Any("err", err))
		_ = msg.NakWithDelay(time.Minute)
		return
	}
	j.logger.Debug("prune events published", slog.Int("tenants", n))
	_ = msg.Ack()
}

// ensureSchedule writes the repeating schedule unless the stream has it
// already at this interval. It does not rewrite an equal one: the interval
// counts from the schedule's message, so rewriting it at every start would
// put the next prune off for as long as nodes keep restarting. A different
// one is replaced for good (a rollup), and of two nodes writing at once
// one wins.
func (j *Janitor) ensureSchedule(ctx context.Context) error {
	pattern := "@every " + j.cfg.Interval.String()
	s, err := j.pub.stream(ctx, StreamSchedules)
	if err != nil {
		return err
	}
	var last uint64
	msg, err := s.GetLastMsgForSubject(ctx, pruneScheduleSubject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return fmt.Errorf("broker: read prune schedule: %w", err)
	case msg.Header.Get("Nats-Schedule") == pattern:
		return nil
	default:
		last = msg.Sequence
	}
	sched := nats.NewMsg(pruneScheduleSubject)
	sched.Header.Set("Nats-Schedule", pattern)
	sched.Header.Set("Nats-Schedule-Target", pruneDueSubject)
	sched.Header.Set("Nats-Rollup", "sub")
	_, err = j.pub.publish(ctx, sched, jetstream.WithExpectLastSequencePerSubject(last))
	if errors.Is(err, ErrConflict) {
		return nil // another node has just written it
	}
	return err
}

// Prune publishes a prune event, with the cutoff now minus the tenant's
// retention, for every tenant whose view holds a finished task or a minute
// of statistics from before its cutoff. It returns how many it published.
func (j *Janitor) Prune(ctx context.Context) (int, error) {
	now := j.cfg.Now()
	due, err := j.view.pruneDue(func(tenantID string) (time.Time, bool) {
		r := j.cfg.Retention(tenantID)
		return now.Add(-r).UTC(), r > 0
	})
	if err != nil {
		return 0, err
	}
	for i, p := range due {
		if _, err := j.pub.PublishEvent(ctx, p.tenantID, pruneToken, KindPrune, pruneEvent{Before: p.before}); err != nil {
			return i, err
		}
	}
	return len(due), nil
}

// tenantCutoff is a tenant to prune and its cutoff.
type tenantCutoff struct {
	tenantID string
	before   time.Time
}

// pruneDue returns the tenants that have a finished task or statistics
// from before their cutoff (cutoff's false: never). cutoff is called
// outside the view's transactions: it may read the same file.
func (v *View) pruneDue(cutoff func(tenantID string) (time.Time, bool)) ([]tenantCutoff, error) {
	var tenants []string
	err := v.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketTasks)
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(name []byte) error {
			tenants = append(tenants, string(name))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	var candidates []tenantCutoff
	for _, id := range tenants {
		if before, ok := cutoff(id); ok {
			candidates = append(candidates, tenantCutoff{tenantID: id, before: before})
		}
	}
	var due []tenantCutoff
	err = v.db.View(func(tx *bolt.Tx) error {
		for _, c := range candidates {
			tb := tenantBucket(tx, c.tenantID)
			if tb != nil && (first(tb, bucketByFinish, finishKey(c.before, nil)) ||
				first(tb, bucketStats, binary.BigEndian.AppendUint64(nil, uint64(c.before.Unix()/60)))) {
				due = append(due, c)
			}
		}
		return nil
	})
	return due, err
}

// first reports whether the first key of the named sub-bucket sorts before
// end.
func first(tb *bolt.Bucket, name, end []byte) bool {
	b := tb.Bucket(name)
	if b == nil {
		return false
	}
	k, _ := b.Cursor().First()
	return k != nil && bytes.Compare(k, end) < 0
}
