package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/jsensure"
)

// How a schedule fires. Its pending message schedule (an "@at", one
// firing at a time: chained, not a repeating NATS schedule) fires
// due.cron.<tenant>.<schedule>.<revision> carrying the firing time in
// Boomerang-Fire-At. The shared durable consumer "schedule-fire" hands it
// to one node, which
//
//  1. reads the schedule's current state from the stream, and drops the
//     firing if the schedule is gone, paused, or at another revision;
//  2. creates the task with the idempotency key
//     schedule:<schedule>:<firing time>, so that the same firing handled
//     twice (a redelivery after a crash, a pending schedule the server
//     fires again after a restart) makes one task: the stream refuses a
//     second created event for that key on any node;
//  3. arms the next firing (the first after this one that has not
//     passed), expecting the pending subject to be empty, so that
//     handling a firing twice arms one next firing;
//  4. acknowledges. A failure before that leaves the firing to come again.
//
// Why chained "@at" rather than one repeating NATS schedule (a cron
// Nats-Schedule): a repeating schedule's firing does not say which time it
// is for (only the next one, Nats-Schedule-Next), and after a restart the
// server re-reads the schedule from its message and may fire for a time
// already handled; the firing time is what makes a firing idempotent, so
// it travels in a header of our own. Timing is computed with
// robfig/cron/v3 (cron.go) on the schedule's time zone's wall clock.

// ScheduleFirerConfig configures a ScheduleFirer.
type ScheduleFirerConfig struct {
	// AckWait must match the consumers' (StreamOptions.AckWait).
	AckWait time.Duration
	// Now is the clock that decides which firings have passed; nil means
	// time.Now.
	Now func() time.Time
	// Parallel is how many firings this node handles at once (default
	// 16): schedules of the same times fire together, and a firing spends
	// most of its time waiting for the stream.
	Parallel int
	// Tenants says whether a tenant's schedules make tasks: a suspended
	// tenant's firings make none (the schedule goes on), a deleted
	// tenant's schedules stop. Nil: every tenant is active.
	Tenants TenantStates
	// Admit applies the tenant's limits on creating tasks to a firing (its
	// monthly quota, its create rate); nil admits every firing.
	Admit FiringAdmission
}

// FiringDecision is what a tenant's limits say about a firing's task.
type FiringDecision struct {
	// Skip, when not empty, says why the firing makes no task (the
	// tenant's monthly quota is spent); the schedule goes on.
	Skip string
	// Wait, when positive, is how long to wait before asking again (the
	// tenant's create rate is spent): the firing comes back then.
	Wait time.Duration
}

// FiringAdmission decides whether a schedule's firing may create its
// task now.
type FiringAdmission func(ctx context.Context, tenantID string) (FiringDecision, error)

// ScheduleFirer turns schedules' firings into tasks.
type ScheduleFirer struct {
	js     jetstream.JetStream
	pub    *Publisher
	tasks  *Tasks
	logger *slog.Logger
	cfg    ScheduleFirerConfig
}

// NewScheduleFirer returns a firer that creates tasks with tasks and
// arms schedules with pub.
func NewScheduleFirer(js jetstream.JetStream, pub *Publisher, tasks *Tasks, logger *slog.Logger, cfg ScheduleFirerConfig) *ScheduleFirer {
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Parallel < 1 {
		cfg.Parallel = 16
	}
	return &ScheduleFirer{js: js, pub: pub, tasks: tasks, logger: logger.With("component", "schedules"), cfg: cfg}
}

// Run handles the firings the shared consumer hands this node until ctx
// ends.
func (f *ScheduleFirer) Run(ctx context.Context) error {
	cons, err := jsensure.LookupConsumer(ctx, f.js, StreamSchedules, consumerFire, f.logger)
	if err != nil {
		return fmt.Errorf("broker: schedule consumer: %w", err)
	}
	if n, err := f.rearm(ctx); err != nil {
		f.logger.Warn("could not check the schedules' pending firings", slog.Any("err", err))
	} else if n > 0 {
		f.logger.Info("armed schedules that had no pending firing", slog.Int("schedules", n))
	}
	s := newSlots(f.cfg.Parallel)
	fetchLoop(ctx, cons, s, f.cfg.Parallel, f.logger, nil, countRedeliveries(f.tasks.Telemetry.observer(), consumerFire, f.handle))
	s.wg.Wait()
	return nil
}

// handle handles one firing and settles its message.
func (f *ScheduleFirer) handle(msg jetstream.Msg) {
	tenantID, id, rev, ok := parseDueCron(msg.Subject())
	at, err := time.Parse(time.RFC3339Nano, msg.Headers().Get(headerFireAt))
	if !ok || err != nil {
		f.logger.Error("dropping malformed schedule firing", "subject", msg.Subject())
		_ = msg.Term()
		return
	}
	stop := keepAlive(msg, f.cfg.AckWait/3)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wait, err := f.fire(ctx, tenantID, id, rev, at)
	switch {
	case err != nil:
		f.logger.Warn("schedule firing failed; will retry", "tenant_id", tenantID, "schedule_id", id,
			"firing_at", at, slog.Any("err", err))
		_ = msg.NakWithDelay(5 * time.Second)
	case wait > 0:
		f.logger.Debug("schedule firing waits (the tenant's create rate, or a tenant this node does not know yet)", "tenant_id", tenantID,
			"schedule_id", id, "firing_at", at, "wait", wait)
		_ = msg.NakWithDelay(wait)
	default:
		_ = msg.Ack()
	}
}

// fire makes the task of the firing at time at of a schedule's revision,
// and arms the next one; or it says how long to wait before the firing
// may make its task (the tenant's create rate, or a tenant this node's
// view does not know yet).
func (f *ScheduleFirer) fire(ctx context.Context, tenantID, id string, rev uint64, at time.Time) (time.Duration, error) {
	sc, err := f.pub.scheduleState(ctx, tenantID, id)
	if errors.Is(err, ErrScheduleNotFound) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	if sc.Revision != rev || sc.Status != ScheduleActive {
		f.logger.Debug("dropping firing of a changed schedule", "tenant_id", tenantID, "schedule_id", id)
		return 0, nil
	}
	switch f.tenantState(tenantID) {
	case TenantDeleted:
		return 0, nil
	case TenantUnknown:
		// It may be suspended: this node cannot tell yet.
		return UnknownTenantDelay, nil
	case TenantSuspended:
		f.logger.Info("tenant suspended: schedule firing makes no task", "tenant_id", tenantID, "schedule_id", id)
		f.noteFiring(sc, ScheduleFiring{At: at.UTC(), Skipped: "the tenant is suspended"})
		return 0, f.armNext(ctx, sc, at)
	}
	if f.cfg.Admit != nil {
		d, err := f.cfg.Admit(ctx, tenantID)
		switch {
		case err != nil:
			return 0, err
		case d.Wait > 0:
			return d.Wait, nil
		case d.Skip != "":
			f.logger.Warn("schedule firing makes no task", "tenant_id", tenantID, "schedule_id", id,
				"firing_at", at, "reason", d.Skip)
			f.noteFiring(sc, ScheduleFiring{At: at.UTC(), Skipped: d.Skip})
			return 0, f.armNext(ctx, sc, at)
		}
	}
	key := FiringKey(id, at)
	spec := sc.Task
	spec.IdempotencyKey, spec.NotBefore = key, nil
	at = at.UTC()
	// The next firing is armed while the task is created: both are safe
	// to repeat, so if the create fails the firing comes again, creates,
	// and finds the next one armed. Together they wait for one round trip
	// to the stream instead of two.
	armed := make(chan error, 1)
	go func() { armed <- f.armNext(ctx, sc, at) }()
	ev := createdEvent{Spec: spec, ScheduleID: id, FiringAt: &at}
	task, replay, err := f.tasks.createWithID(ctx, tenantID, ev, key, nil)
	if armErr := <-armed; err == nil {
		err = armErr
	}
	if err != nil {
		return 0, err
	}
	if !replay {
		f.tasks.Telemetry.observer().TaskCreated(tenantID)
	}
	f.logger.Debug("schedule fired", "tenant_id", tenantID, "schedule_id", id, "task_id", task.ID, "replay", replay)
	f.noteFiring(sc, ScheduleFiring{At: at, TaskID: task.ID})
	return 0, nil
}

func (f *ScheduleFirer) tenantState(tenantID string) TenantState {
	if f.cfg.Tenants == nil {
		return TenantActive
	}
	return f.cfg.Tenants(tenantID)
}

// armNext arms the firing after the one at at.
func (f *ScheduleFirer) armNext(ctx context.Context, sc *Schedule, at time.Time) error {
	tenantID, id := sc.TenantID, sc.ID
	timing, err := sc.firing()
	if err != nil {
		return nil // a timing this version refuses: the schedule stops here
	}
	next, err := timing.nextAfter(at, f.cfg.Now())
	if err != nil {
		f.logger.Warn("schedule has no next firing", "tenant_id", tenantID, "schedule_id", id, slog.Any("err", err))
		return nil
	}
	return f.pub.arm(ctx, tenantID, id, sc.Revision, next)
}

// FiringKey is the idempotency key of the task a schedule's firing at at
// creates: schedule:<schedule>:<firing time, RFC 3339 in UTC>.
func FiringKey(scheduleID string, at time.Time) string {
	return "schedule:" + scheduleID + ":" + at.UTC().Format(time.RFC3339Nano)
}

// rearm arms every active schedule that has no pending firing and no
// firing waiting to be handled: one whose node stopped between keeping a
// change and arming it. A firing's handler arms the next before it
// acknowledges, so a schedule with neither is not firing; should both arm
// anyway, one wins (see Publisher.arm). It returns how many it armed.
func (f *ScheduleFirer) rearm(ctx context.Context) (int, error) {
	st, err := f.pub.stream(ctx, StreamSchedules)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(schedDefPrefix+">"))
	if err != nil {
		return 0, fmt.Errorf("broker: schedules: %w", err)
	}
	// A firing the server made while no node was up waits in the work
	// queue; its handler arms the next one, in the schedule's phase. Arming
	// from now as well would shift an interval's phase (the handler's arm
	// would then find the subject taken).
	waiting, err := st.Info(ctx, jetstream.WithSubjectFilter(dueCronFilter))
	if err != nil {
		return 0, fmt.Errorf("broker: schedules: %w", err)
	}
	n := 0
	for subject := range info.State.Subjects {
		parts := strings.Split(strings.TrimPrefix(subject, schedDefPrefix), ".")
		if len(parts) != 2 {
			continue
		}
		sc, err := f.pub.scheduleState(ctx, parts[0], parts[1])
		if err != nil || sc.Status != ScheduleActive || sc.NextFiringAt != nil {
			continue
		}
		if _, ok := waiting.State.Subjects["due"+strings.TrimPrefix(scheduleCronSubject(sc.TenantID, sc.ID, sc.Revision), "sched")]; ok {
			continue
		}
		timing, err := sc.firing()
		if err != nil {
			continue
		}
		next, err := timing.next(f.cfg.Now())
		if err != nil {
			continue
		}
		if err := f.pub.arm(ctx, sc.TenantID, sc.ID, sc.Revision, next); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
