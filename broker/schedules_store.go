package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Where a schedule is kept. Its state is one message in the schedules
// stream, sched.def.<tenant>.<schedule>, written with a subject rollup so
// that the stream keeps only the latest: the stream has no age limit (the
// task stream's retention would drop a schedule made months ago), no
// consumer takes those subjects (so the work queue keeps them), and any
// node reads a schedule's current state with one get, whatever its view
// has applied. Each write expects the subject's last sequence to be the
// state it changed (Nats-Expected-Last-Subject-Sequence), so two changes
// made at once on two nodes cannot both win. The sequence of the state is
// its revision.
//
// While a schedule is active, one pending message schedule waits for its
// next firing: sched.cron.<tenant>.<schedule>.<revision>, "@at <time>",
// firing due.cron.<tenant>.<schedule>.<revision> with the firing time in
// the Boomerang-Fire-At header (see schedules_fire.go). A change of the
// schedule purges its pending firings and arms one for the new revision; a
// firing of an older revision that comes anyway is dropped.
const (
	schedDefPrefix  = "sched.def."
	schedCronPrefix = "sched.cron."
	schedLastPrefix = "sched.last."
	dueCronPrefix   = "due.cron."
	dueCronFilter   = "due.cron.>"
	consumerFire    = "schedule-fire"
	headerFireAt    = "Boomerang-Fire-At"
)

func scheduleDefSubject(tenantID, id string) string { return schedDefPrefix + tenantID + "." + id }

func scheduleCronSubject(tenantID, id string, rev uint64) string {
	return schedCronPrefix + tenantID + "." + id + "." + strconv.FormatUint(rev, 10)
}

// parseDueCron returns the tenant, schedule and revision of
// due.cron.<tenant>.<schedule>.<revision>.
func parseDueCron(subject string) (tenantID, id string, rev uint64, ok bool) {
	parts := strings.Split(strings.TrimPrefix(subject, dueCronPrefix), ".")
	if len(parts) != 3 || !strings.HasPrefix(subject, dueCronPrefix) || !ValidToken(parts[0]) || !ValidScheduleID(parts[1]) {
		return "", "", 0, false
	}
	rev, err := strconv.ParseUint(parts[2], 10, 64)
	return parts[0], parts[1], rev, err == nil
}

// Schedules is what the API does with schedules: create, read, change,
// pause, resume, delete. Every operation reads and writes the schedules
// stream.
type Schedules struct {
	pub    *Publisher
	logger *slog.Logger
	now    func() time.Time

	// MaxPerTenant caps the schedules a tenant may keep (0: no cap). The
	// count is read from the stream at each create: two creates racing on
	// different nodes may each see room for one, so a tenant can pass the
	// cap by the number of creates it makes at the same instant.
	MaxPerTenant int
}

// DefaultMaxSchedules is how many schedules a tenant may keep unless the
// server says otherwise.
const DefaultMaxSchedules = 1000

// MaxSchedulePage is the most schedules one page of a listing holds.
const MaxSchedulePage = 200

// NewSchedules returns the schedule operations; now is the clock (nil
// means time.Now) that decides a new or resumed schedule's first firing.
func NewSchedules(pub *Publisher, logger *slog.Logger, now func() time.Time) *Schedules {
	if now == nil {
		now = time.Now
	}
	return &Schedules{pub: pub, logger: logger, now: now}
}

// Create keeps a new, active schedule and arms its first firing. The
// task template must have been validated as a task's spec; the timing is
// checked here (errors wrap ErrScheduleInvalid). CreateOnce is Create
// with an idempotency key.
func (s *Schedules) Create(ctx context.Context, tenantID string, timing ScheduleTiming, task Spec) (*Schedule, error) {
	sc, err := s.newSchedule(ctx, tenantID, timing, task)
	if err != nil {
		return nil, err
	}
	if err := s.write(ctx, sc, 0); err != nil {
		return nil, err
	}
	return sc, nil
}

// newSchedule checks a new schedule's timing and the tenant's room for
// it, and returns it, not yet written: active, with a new id.
func (s *Schedules) newSchedule(ctx context.Context, tenantID string, timing ScheduleTiming, task Spec) (*Schedule, error) {
	if _, err := timing.compile(); err != nil {
		return nil, err
	}
	if s.MaxPerTenant > 0 {
		ids, err := s.ids(ctx, tenantID)
		if err != nil {
			return nil, err
		}
		if len(ids) >= s.MaxPerTenant {
			return nil, fmt.Errorf("%w: this tenant keeps %d schedules, the most it may", ErrTooManySchedules, len(ids))
		}
	}
	now := s.now().UTC()
	task.IdempotencyKey, task.NotBefore = "", nil
	return &Schedule{ID: NewScheduleID(), TenantID: tenantID, ScheduleTiming: timing, Task: task,
		Status: ScheduleActive, CreatedAt: now, UpdatedAt: now, Anchor: now.Truncate(time.Second)}, nil
}

// Get returns one of the tenant's schedules, or ErrScheduleNotFound.
func (s *Schedules) Get(ctx context.Context, tenantID, id string) (*Schedule, error) {
	if !ValidScheduleID(id) {
		return nil, ErrScheduleNotFound
	}
	sc, err := s.pub.scheduleState(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	sc.LastFiring = s.pub.lastFiring(ctx, tenantID, id)
	return sc, nil
}

// List returns every schedule of the tenant, oldest first.
func (s *Schedules) List(ctx context.Context, tenantID string) ([]Schedule, error) {
	out, _, err := s.Page(ctx, tenantID, "", 0)
	return out, err
}

// Page returns up to limit of the tenant's schedules (0: all of them),
// oldest first, beginning after the schedule id after ("" from the
// first), and the id to begin the next page after ("" after the last).
func (s *Schedules) Page(ctx context.Context, tenantID, after string, limit int) ([]Schedule, string, error) {
	ids, err := s.ids(ctx, tenantID)
	if err != nil {
		return nil, "", err
	}
	ids = ids[sort.SearchStrings(ids, after):]
	if len(ids) > 0 && ids[0] == after {
		ids = ids[1:]
	}
	next := ""
	if limit > 0 && len(ids) > limit {
		ids, next = ids[:limit], ids[limit-1]
	}
	out := make([]Schedule, 0, len(ids))
	for _, id := range ids {
		sc, err := s.pub.scheduleState(ctx, tenantID, id)
		if errors.Is(err, ErrScheduleNotFound) {
			continue // deleted meanwhile
		} else if err != nil {
			return nil, "", err
		}
		sc.LastFiring = s.pub.lastFiring(ctx, tenantID, id)
		out = append(out, *sc)
	}
	return out, next, nil
}

// ids returns the ids of the tenant's schedules, sorted: oldest first,
// since an id begins with its creation time. The stream lists the
// subjects it holds a message on; no schedule's state is read.
func (s *Schedules) ids(ctx context.Context, tenantID string) ([]string, error) {
	st, err := s.pub.stream(ctx, StreamSchedules)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(schedDefPrefix+tenantID+".*"))
	if err != nil {
		return nil, fmt.Errorf("broker: list schedules: %w", err)
	}
	ids := make([]string, 0, len(info.State.Subjects))
	for subject := range info.State.Subjects {
		ids = append(ids, subject[strings.LastIndexByte(subject, '.')+1:])
	}
	sort.Strings(ids)
	return ids, nil
}

// Update changes a schedule's timing, its task template, or both (nil
// leaves a part as it is), and arms the firing the new timing names. It
// returns ErrScheduleNotFound, an error wrapping ErrScheduleInvalid, or
// ErrConflict when another change came first.
func (s *Schedules) Update(ctx context.Context, tenantID, id string, timing *ScheduleTiming, task *Spec) (*Schedule, error) {
	return s.change(ctx, tenantID, id, func(sc *Schedule) error {
		if timing != nil && *timing != sc.ScheduleTiming {
			if _, err := timing.compile(); err != nil {
				return err
			}
			sc.ScheduleTiming = *timing
			// New timing, new times: an interval counts from now. Else
			// its phase stays (an interval edited more often than it
			// fires would otherwise never fire).
			sc.Anchor = s.now().UTC().Truncate(time.Second)
		}
		if task != nil {
			sc.Task = *task
			sc.Task.IdempotencyKey, sc.Task.NotBefore = "", nil
		}
		return nil
	})
}

// Pause stops a schedule's firings until Resume; pausing a paused
// schedule changes nothing.
func (s *Schedules) Pause(ctx context.Context, tenantID, id string) (*Schedule, error) {
	return s.setStatus(ctx, tenantID, id, SchedulePaused)
}

// Resume makes a paused schedule fire again, from its next time after
// now: the firings it missed while paused are not made up.
func (s *Schedules) Resume(ctx context.Context, tenantID, id string) (*Schedule, error) {
	return s.setStatus(ctx, tenantID, id, ScheduleActive)
}

func (s *Schedules) setStatus(ctx context.Context, tenantID, id string, status ScheduleStatus) (*Schedule, error) {
	sc, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if sc.Status == status {
		if status == ScheduleActive && sc.NextFiringAt == nil {
			// Active, yet no firing pending (one is being handled, or an
			// arm was lost): arming again is harmless (a revision has one
			// pending firing: of two arms one wins) and heals the second.
			return sc, s.armNext(ctx, sc)
		}
		return sc, nil
	}
	return s.change(ctx, tenantID, id, func(sc *Schedule) error {
		sc.Status = status
		return nil
	})
}

// Delete removes a schedule and its pending firing; the tasks it made
// stay. It returns ErrScheduleNotFound for a schedule that is not there.
func (s *Schedules) Delete(ctx context.Context, tenantID, id string) error {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return err
	}
	st, err := s.pub.stream(ctx, StreamSchedules)
	if err != nil {
		return err
	}
	for _, subject := range []string{scheduleDefSubject(tenantID, id), schedLastPrefix + tenantID + "." + id} {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			return fmt.Errorf("broker: delete schedule: %w", err)
		}
	}
	return s.disarmBefore(ctx, tenantID, id, math.MaxUint64)
}

// change applies fn to the schedule's current state and writes the result
// as its next revision.
func (s *Schedules) change(ctx context.Context, tenantID, id string, fn func(*Schedule) error) (*Schedule, error) {
	sc, err := s.Get(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	if err := fn(sc); err != nil {
		return nil, err
	}
	sc.UpdatedAt = s.now().UTC()
	if err := s.write(ctx, sc, sc.Revision); err != nil {
		return nil, err
	}
	return sc, nil
}

// write stores sc as the state after revision prev (0: a new schedule),
// purges the pending firings of its older revisions and, when it is
// active, arms its next one after now. It sets sc's Revision and
// NextFiringAt.
//
// Two changes may write one after the other and then run their purges
// and arms in any order: each purges only revisions older than its own,
// so a slow one never removes the firing of a newer revision (which would
// leave an active schedule that never fires), and what it arms for its
// own, older revision is dropped when it fires. Both arm the same time: a
// change that keeps the timing keeps an interval's anchor.
func (s *Schedules) write(ctx context.Context, sc *Schedule, prev uint64) error {
	if err := s.store(ctx, sc, prev); err != nil {
		return err
	}
	return s.rearm(ctx, sc, prev != 0)
}

// store writes sc as the state after revision prev and sets its Revision.
func (s *Schedules) store(ctx context.Context, sc *Schedule, prev uint64) error {
	sc.NextFiringAt = nil
	data, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("broker: encode schedule: %w", err)
	}
	msg := nats.NewMsg(scheduleDefSubject(sc.TenantID, sc.ID))
	msg.Header.Set("Nats-Rollup", "sub")
	msg.Data = data
	rev, err := s.pub.publish(ctx, msg, jetstream.WithExpectLastSequencePerSubject(prev))
	if err != nil {
		return err
	}
	sc.Revision = rev
	return nil
}

// rearm purges the firings of revisions older than the stored sc's (when
// older ones may exist) and, when it is active, arms its next one.
func (s *Schedules) rearm(ctx context.Context, sc *Schedule, older bool) error {
	if older {
		if err := s.disarmBefore(ctx, sc.TenantID, sc.ID, sc.Revision); err != nil {
			return err
		}
	}
	if sc.Status != ScheduleActive {
		return nil
	}
	return s.armNext(ctx, sc)
}

// armNext arms the active schedule's pending firing for its revision, at
// its next time after now, and sets sc.NextFiringAt.
func (s *Schedules) armNext(ctx context.Context, sc *Schedule) error {
	f, err := sc.firing()
	if err != nil {
		return err
	}
	at, err := f.next(s.now())
	if err != nil {
		return timingError("cron", "never matches within five years")
	}
	sc.NextFiringAt = &at
	return s.pub.arm(ctx, sc.TenantID, sc.ID, sc.Revision, at)
}

// disarmBefore purges the pending firings of a schedule's revisions older
// than rev (math.MaxUint64: of every revision).
func (s *Schedules) disarmBefore(ctx context.Context, tenantID, id string, rev uint64) error {
	st, err := s.pub.stream(ctx, StreamSchedules)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(schedCronPrefix+tenantID+"."+id+".*"))
	if err != nil {
		return fmt.Errorf("broker: disarm schedule: %w", err)
	}
	for subject := range info.State.Subjects {
		if _, _, r, ok := parseDueCron("due" + strings.TrimPrefix(subject, "sched")); ok && r >= rev {
			continue
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			return fmt.Errorf("broker: disarm schedule: %w", err)
		}
	}
	return nil
}

// arm writes the pending firing of a schedule's revision at the given
// time, unless one is pending already (the subject's last sequence must
// be 0: a firing purges its pending message). Of two nodes arming the
// same revision, one wins; the other's ErrConflict is not an error.
func (p *Publisher) arm(ctx context.Context, tenantID, id string, rev uint64, at time.Time) error {
	subject := scheduleCronSubject(tenantID, id, rev)
	msg := nats.NewMsg(subject)
	msg.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", "due"+strings.TrimPrefix(subject, "sched"))
	msg.Header.Set(headerFireAt, at.UTC().Format(time.RFC3339Nano))
	_, err := p.publish(ctx, msg, jetstream.WithExpectLastSequencePerSubject(0))
	if errors.Is(err, ErrConflict) {
		return nil
	}
	return err
}

// scheduleState reads a schedule's current state from the stream. In a
// replicated stream a replica that has not stored it yet is asked again
// of the leader.
func (p *Publisher) scheduleState(ctx context.Context, tenantID, id string) (*Schedule, error) {
	st, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return nil, err
	}
	subject := scheduleDefSubject(tenantID, id)
	msg, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) && st.CachedInfo().Config.Replicas > 1 {
		msg, err = leaderLastMsg(ctx, p.js.Conn(), StreamSchedules, subject)
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrScheduleNotFound
	} else if err != nil {
		return nil, fmt.Errorf("broker: read schedule: %w", err)
	}
	var sc Schedule
	if err := json.Unmarshal(msg.Data, &sc); err != nil {
		return nil, fmt.Errorf("broker: decode schedule: %w", err)
	}
	sc.Revision = msg.Sequence
	if sc.Status == ScheduleActive {
		sc.NextFiringAt = p.pendingFiring(ctx, st, tenantID, id, sc.Revision)
	}
	return &sc, nil
}

// pendingFiring is the time of the schedule revision's pending firing,
// nil when none is pending (it is firing now, or was never armed).
func (p *Publisher) pendingFiring(ctx context.Context, st jetstream.Stream, tenantID, id string, rev uint64) *time.Time {
	msg, err := st.GetLastMsgForSubject(ctx, scheduleCronSubject(tenantID, id, rev))
	if err != nil {
		return nil
	}
	at, err := time.Parse(time.RFC3339Nano, msg.Header.Get(headerFireAt))
	if err != nil {
		return nil
	}
	return &at
}

// The latest firing of a schedule is kept apart from its state, on
// sched.last.<tenant>.<schedule> (rolled up: the stream keeps one), so
// that a firing does not change the schedule's revision, which would
// drop the pending firing it arms.

// noteFiring keeps what a firing came to. It is for people reading the
// schedule, so the firing does not wait for it: it is published without
// waiting for the acknowledgement, and one lost is not retried.
func (f *ScheduleFirer) noteFiring(sc *Schedule, fr ScheduleFiring) {
	data, err := json.Marshal(fr)
	if err != nil {
		return
	}
	msg := nats.NewMsg(schedLastPrefix + sc.TenantID + "." + sc.ID)
	msg.Header.Set("Nats-Rollup", "sub")
	msg.Data = data
	if _, err := f.js.PublishMsgAsync(msg); err != nil {
		f.logger.Warn("could not keep a schedule's last firing", "tenant_id", sc.TenantID, "schedule_id", sc.ID, slog.Any("err", err))
	}
}

// lastFiring reads a schedule's latest firing; nil if it has not fired
// (or the read failed: it is informative).
func (p *Publisher) lastFiring(ctx context.Context, tenantID, id string) *ScheduleFiring {
	st, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return nil
	}
	msg, err := st.GetLastMsgForSubject(ctx, schedLastPrefix+tenantID+"."+id)
	if err != nil {
		return nil
	}
	var fr ScheduleFiring
	if json.Unmarshal(msg.Data, &fr) != nil {
		return nil
	}
	return &fr
}
