package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// taskDue fires when a task's next attempt is due. It carries the whole spec
// so that the event log's retention cannot strand a waiting task.
type taskDue struct {
	TenantID  string    `json:"tenantId"`
	TaskID    string    `json:"taskId"`
	Attempt   int       `json:"attempt"`
	CreatedAt time.Time `json:"createdAt"`
	Spec      Spec      `json:"spec"`
	// Admitted says the task's key admitted this attempt (keys.go); an
	// attempt of a task with a key that was not is queued on the key.
	Admitted bool `json:"admitted,omitempty"`
}

// hookDue fires when a webhook delivery is due. It carries the notification.
type hookDue struct {
	Notification Notification `json:"notification"`
	Round        uint64       `json:"round"`
	Index        int          `json:"index"`
	Number       int          `json:"number"`
	// Receiver is the receiver delivered to: "" for webhookUrl,
	// FailureReceiver for failureWebhookUrl.
	Receiver string `json:"receiver,omitempty"`
}

// schedule publishes v to fire on due.<kind>.<tenant>.<task> at the given
// time. A near time gets a pending schedule of its own at once, on
// sched.<kind>.<tenant>.<task>; a far one is parked (see parking) and gets
// that schedule when its minute comes near.
//
// Publishing again for the same task does not reliably replace a schedule
// that has not fired: the server keeps one schedule per subject while it
// runs, but the older message stays in the stream, and in a measurement an
// overwritten schedule came back after a SIGKILL and fired; a parked one
// is not replaced at all. So a due message may come twice, or after the
// work it asks for was done. The receivers make that harmless by checking
// this node's view first: the dispatcher acks a due whose attempt the view
// already records, or whose task has finished (Dispatcher.alreadyDone); the
// deliverer one whose delivery the view already records, or whose round a
// redelivery replaced (Deliverer.handleDue). Two copies that arrive before
// the view has applied the first one's outcome can both be acted on: at
// least once, as for any redelivery. To remove a pending schedule for
// good, use unschedule.
func (p *Publisher) schedule(ctx context.Context, kind, tenantID, taskID string, at time.Time, v any) error {
	data, err := encodeFit(v, p.maxData())
	if err != nil {
		return fmt.Errorf("broker: encode schedule: %w", err)
	}
	if p.parking.parks(p.now(), at) {
		return p.park(ctx, scheduleSubject(kind, tenantID, taskID), at, data)
	}
	_, err = p.publish(ctx, scheduleMsg(scheduleSubject(kind, tenantID, taskID), at, data))
	return err
}

// scheduleMsg is the pending schedule on subject (sched.<kind>.<tenant>.<task>)
// that publishes data on the matching due subject at the given time.
func scheduleMsg(subject string, at time.Time, data []byte) *nats.Msg {
	msg := nats.NewMsg(subject)
	// nats.go's WithScheduleAt truncates to whole seconds; the server
	// parses fractions, so write the exact time ourselves.
	msg.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", "due"+strings.TrimPrefix(subject, "sched"))
	msg.Data = data
	return msg
}

// unschedule removes a pending schedule, if there is one, by purging its
// subject: every message on it, the overwritten ones too. A parked wait is
// not removed: it costs no memory, and its due is dropped when it comes.
func (p *Publisher) unschedule(ctx context.Context, kind, tenantID, taskID string) error {
	s, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(scheduleSubject(kind, tenantID, taskID))); err != nil {
		return fmt.Errorf("broker: unschedule: %w", err)
	}
	return nil
}

// parking holds far waits without a pending schedule each. A pending
// message schedule costs the server about 540 bytes of memory (its subject
// in the stream's subject index and in the scheduler's maps and timer
// wheel) for as long as it waits, so a million tasks waiting an hour would
// hold half a gigabyte. A far wait is parked instead: what would be its
// schedule is a plain message on sched.park.<minute> (the bucket's start
// in Unix seconds), which costs the server no memory, since a bucket's
// waits share one subject. One schedule per bucket, sched.wake.<minute>,
// fires due.wake.<minute> half a minute before the bucket begins; the node
// that gets it (the "wake" consumer) turns each parked wait into its own
// pending schedule at its exact time, then purges the bucket. Only the
// waits due within the next few minutes hold a pending schedule, so the
// server's memory follows the rate at which work falls due, not how much
// of it waits.
type parking struct {
	after  time.Duration // waits at least this long are parked; 0 parks none
	bucket time.Duration // a bucket's width, whole seconds
	lead   time.Duration // how long before its start a bucket is woken
}

// parker is the Publisher's part that parks far waits.
type parker struct {
	parking parking
	now     func() time.Time // decides which waits are far (the server fires by its own)
	wakes   wakes
}

func newParker() parker { return parker{parking: defaultParking(), now: time.Now} }

// defaultParking parks waits of two minutes or more in minute buckets,
// woken half a minute ahead: a parked wait's wake comes at least half a
// minute after it was parked.
func defaultParking() parking {
	return parking{after: 2 * time.Minute, bucket: time.Minute, lead: 30 * time.Second}
}

// wakeMargin is how long before a bucket's wake this node stops trusting
// its memory that the wake is pending, and asks the stream again.
const wakeMargin = 5 * time.Second

// Headers of a parked wait: the schedule it becomes, and when it fires.
const (
	headerParkedSchedule = "Boomerang-Schedule"
	headerParkedAt       = "Boomerang-At"
)

func (pk parking) parks(now, at time.Time) bool {
	return pk.after > 0 && at.Sub(now) >= pk.after
}

// bucketOf is the start, in Unix seconds, of the bucket a wait due at at
// is parked in.
func (pk parking) bucketOf(at time.Time) int64 {
	width := int64(pk.bucket / time.Second)
	return at.Unix() / width * width
}

// wakeDueFilter matches every bucket's wake.
const wakeDueFilter = "due.wake.*"

func parkSubject(bucket int64) string { return "sched.park." + strconv.FormatInt(bucket, 10) }

func wakeScheduleSubject(bucket int64) string { return "sched.wake." + strconv.FormatInt(bucket, 10) }

func wakeDueSubject(bucket int64) string { return "due.wake." + strconv.FormatInt(bucket, 10) }

// parseWakeSubject returns the bucket of due.wake.<bucket>.
func parseWakeSubject(subject string) (int64, bool) {
	rest, ok := strings.CutPrefix(subject, "due.wake.")
	if !ok {
		return 0, false
	}
	bucket, err := strconv.ParseInt(rest, 10, 64)
	return bucket, err == nil
}

// park stores a far wait in its bucket, then makes sure the bucket will be
// woken. In that order: a wake that is pending when the wait is stored
// fires after it, so the wait is promoted; one that has fired already is
// gone from the stream, and the wake published again fires at once.
func (p *Publisher) park(ctx context.Context, schedule string, at time.Time, data []byte) error {
	bucket := p.parking.bucketOf(at)
	if _, err := p.publish(ctx, parkedMsg(bucket, schedule, at, data)); err != nil {
		return err
	}
	return p.wake(ctx, bucket)
}

// parkedMsg is a wait parked in bucket: the schedule it becomes, its time
// and its data.
func parkedMsg(bucket int64, schedule string, at time.Time, data []byte) *nats.Msg {
	msg := nats.NewMsg(parkSubject(bucket))
	msg.Header.Set(headerParkedSchedule, schedule)
	msg.Header.Set(headerParkedAt, at.UTC().Format(time.RFC3339Nano))
	msg.Data = data
	return msg
}

// wake writes the bucket's wake schedule unless this node wrote it (or
// found it) earlier and it cannot have fired yet. Of several nodes writing
// it, one wins: the others' expected-sequence check fails.
func (p *Publisher) wake(ctx context.Context, bucket int64) error {
	fire := time.Unix(bucket, 0).Add(-p.parking.lead)
	if p.wakes.pending(bucket) && p.now().Before(fire.Add(-wakeMargin)) {
		return nil
	}
	msg := nats.NewMsg(wakeScheduleSubject(bucket))
	msg.Header.Set("Nats-Schedule", "@at "+fire.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", wakeDueSubject(bucket))
	_, err := p.publish(ctx, msg, jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil && !errors.Is(err, ErrConflict) {
		return err
	}
	p.wakes.add(bucket, p.now().Unix())
	return nil
}

// wakes remembers the buckets whose wake this node knows to be pending.
type wakes struct {
	mu      sync.Mutex
	buckets map[int64]struct{}
}

func (w *wakes) pending(bucket int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.buckets[bucket]
	return ok
}

// add remembers bucket; buckets that began before now are forgotten once
// there are many.
func (w *wakes) add(bucket, now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buckets == nil {
		w.buckets = map[int64]struct{}{}
	}
	if len(w.buckets) >= 4096 {
		for b := range w.buckets {
			if b < now {
				delete(w.buckets, b)
			}
		}
	}
	w.buckets[bucket] = struct{}{}
}

// promoteBatch is how many parked waits one read of a bucket returns, and
// promoteBytes about how many bytes at most.
const (
	promoteBatch = 256
	promoteBytes = 8 << 20
)

// promote turns every wait parked in bucket into its own pending schedule,
// then purges those it read from the bucket (a wait parked meanwhile stays
// for the wake that its park publishes). It returns how many it promoted.
// A wait that cannot be read is logged and dropped. Run twice, it
// publishes a wait's schedule twice: harmless (see schedule).
func (p *Publisher) promote(ctx context.Context, bucket int64, logger *slog.Logger) (int, error) {
	s, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return 0, err
	}
	subject := parkSubject(bucket)
	next, n := uint64(1), 0
	for round := 1; ; round++ {
		read, next2, err := p.promoteFrom(ctx, subject, next, logger)
		n, next = n+read, next2
		if err != nil {
			return n, err
		}
		if err := s.Purge(ctx, jetstream.WithPurgeSubject(subject), jetstream.WithPurgeSequence(next)); err != nil {
			return n, fmt.Errorf("broker: purge woken bucket: %w", err)
		}
		// Direct gets may be answered by a replica that lags the leader;
		// the stream's info comes from the leader: what it still holds
		// was parked after the replica's last, and is promoted too.
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			return n, fmt.Errorf("broker: woken bucket: %w", err)
		}
		left := info.State.Subjects[subject]
		if left == 0 {
			return n, nil
		}
		if round == 3 {
			return n, fmt.Errorf("broker: woken bucket still holds %d waits", left)
		}
	}
}

// promoteFrom promotes the waits parked on subject from sequence next on
// and returns how many, and the sequence after the last one it read.
func (p *Publisher) promoteFrom(ctx context.Context, subject string, next uint64, logger *slog.Logger) (int, uint64, error) {
	n := 0
	for {
		batch, err := p.readParked(ctx, subject, next)
		if err != nil || len(batch) == 0 {
			return n, next, err
		}
		acks := make([]jetstream.PubAckFuture, 0, len(batch))
		for _, parked := range batch {
			next = parked.seq + 1
			msg, ok := unpark(parked.header, parked.data)
			if !ok {
				logger.Error("dropping malformed parked wait", "subject", subject, "seq", parked.seq)
				continue
			}
			ack, err := p.js.PublishMsgAsync(msg)
			if err != nil {
				return n, next, fmt.Errorf("broker: promote parked wait: %w", err)
			}
			acks, n = append(acks, ack), n+1
		}
		if err := awaitAcks(ctx, acks); err != nil {
			return n, next, err
		}
	}
}

// parkedWait is a message read from a bucket.
type parkedWait struct {
	seq    uint64
	header nats.Header
	data   []byte
}

// readParked reads up to promoteBatch messages on subject from sequence
// from on, in one direct get of the schedules stream (nats.go gets one
// message per request). An empty batch means there are no more.
func (p *Publisher) readParked(ctx context.Context, subject string, from uint64) ([]parkedWait, error) {
	nc := p.js.Conn()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("broker: read parked waits: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// A batch stops at promoteBytes (with one message at least), and the
	// subscription takes whatever comes: a dropped message would stall it.
	_ = sub.SetPendingLimits(-1, -1)
	req := fmt.Sprintf(`{"seq":%d,"next_by_subj":%q,"batch":%d,"max_bytes":%d}`, from, subject, promoteBatch, promoteBytes)
	if err := nc.PublishRequest("$JS.API.DIRECT.GET."+StreamSchedules, inbox, []byte(req)); err != nil {
		return nil, fmt.Errorf("broker: read parked waits: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var batch []parkedWait
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("broker: read parked waits: %w", err)
		}
		switch msg.Header.Get("Status") {
		case "404": // none left
			return batch, nil
		case "204": // end of the batch
			return batch, nil
		case "":
		default:
			return nil, fmt.Errorf("broker: read parked waits: status %s %s", msg.Header.Get("Status"), msg.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(msg.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("broker: read parked waits: bad sequence %q", msg.Header.Get(jetstream.SequenceHeader))
		}
		batch = append(batch, parkedWait{seq: seq, header: msg.Header, data: msg.Data})
	}
}

// unpark is the pending schedule a parked wait stands for, with the
// wait's trace context.
func unpark(header nats.Header, data []byte) (*nats.Msg, bool) {
	schedule := header.Get(headerParkedSchedule)
	at, err := time.Parse(time.RFC3339Nano, header.Get(headerParkedAt))
	if err != nil || !validScheduleSubject(schedule) {
		return nil, false
	}
	msg := scheduleMsg(schedule, at, data)
	copyTrace(msg.Header, header)
	return msg, true
}

// validScheduleSubject reports whether s is sched.<kind>.<tenant>.<task>.
func validScheduleSubject(s string) bool {
	parts := strings.Split(s, ".")
	return len(parts) == 4 && parts[0] == "sched" && (parts[1] == dueTask || parts[1] == dueHook) &&
		ValidToken(parts[2]) && ValidToken(parts[3])
}

func awaitAcks(ctx context.Context, acks []jetstream.PubAckFuture) error {
	for _, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			return fmt.Errorf("broker: promote parked wait: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("broker: promote parked wait: %w", ctx.Err())
		}
	}
	return nil
}
