package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/jsensure"
)

// errShutdown is the cause of the work context being canceled by Abort.
var errShutdown = errors.New("node shutting down")

// WorkerConfig configures a Dispatcher or Deliverer.
type WorkerConfig struct {
	// MaxInFlight bounds the attempts (or deliveries) running on this node.
	MaxInFlight int
	// AckWait must match the consumers' AckWait (StreamOptions.AckWait):
	// running work signals progress every third of it.
	AckWait time.Duration
	// MaxPerTenant and MaxPerHost cap one tenant's work running at once on
	// this node, in all and towards one host; Limits may override them per
	// tenant. Zero means no cap.
	MaxPerTenant, MaxPerHost int
	Limits                   ConcurrencyLimits
	// Adaptive adapts the dispatcher's concurrency towards each tenant's
	// target hosts (adaptive.go; the deliverer ignores it).
	Adaptive AdaptiveConfig
	// RunningAfter is how long an attempt runs before the task is shown as
	// running (a started event). Shorter attempts go straight to their
	// outcome, saving an event each. Zero shows every attempt.
	RunningAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Telemetry traces and counts the work (the zero value: neither).
	Telemetry Telemetry
	// Tenants says whether a tenant's work may run (hold.go); nil lets
	// all of it run. HoldFor is how long the work of a suspended tenant
	// waits before it is offered again (default DefaultHoldFor).
	Tenants TenantStates
	HoldFor time.Duration
	// Paused, when set, reports whether the node should start no work for
	// now: it cannot record outcomes (it is cut off from the stream's
	// leader), so an attempt it made would only be made again elsewhere.
	// Work in flight goes on. Nil never pauses.
	Paused func() bool
}

func (c WorkerConfig) withDefaults() WorkerConfig {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1000
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HoldFor <= 0 {
		c.HoldFor = DefaultHoldFor
	}
	return c
}

// worker holds what the dispatcher and the deliverer share: the consumers'
// fetch loops, the bound on work in flight, and a soft then hard stop.
type worker struct {
	js       jetstream.JetStream
	pub      *Publisher
	view     *View
	progress ViewProgress // the view's progress through the task stream
	logger   *slog.Logger
	cfg      WorkerConfig
	slots    *slots
	gate     *gate
	obs      Observer
	calls    inFlight // calls to targets or webhooks being made

	work  context.Context // parent of every handler's context
	abort context.CancelCauseFunc
}

func newWorker(js jetstream.JetStream, pub *Publisher, view *View, progress ViewProgress, logger *slog.Logger, cfg WorkerConfig) worker {
	cfg = cfg.withDefaults()
	work, abort := context.WithCancelCause(context.Background())
	return worker{js: js, pub: pub, view: view, progress: progress, logger: logger, cfg: cfg, slots: newSlots(cfg.MaxInFlight),
		gate: newGate(cfg.MaxPerTenant, cfg.MaxPerHost, cfg.Limits), obs: cfg.Telemetry.observer(), work: work, abort: abort}
}

// awaitView waits until this node's view can tell what became of msg's
// work: on a first delivery, until it has applied stream sequence seq (0:
// nothing); on a redelivery, until it has applied all that the stream
// holds, since an earlier try, here or on another node, may have done the
// work and recorded it, and a view a moment behind would do it again. The
// wait may outlast the ack wait on a lagging node: the message is kept in
// progress meanwhile, so that it is not handed to a second worker.
func (w *worker) awaitView(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, seq uint64) error {
	if meta.NumDelivered > 1 {
		return w.awaitStream(ctx, msg)
	}
	stop := keepAlive(msg, w.cfg.AckWait/3)
	defer stop()
	return w.progress.WaitFor(ctx, seq)
}

// awaitStream waits until this node's view has applied all that the
// stream holds now, with msg kept in progress meanwhile.
func (w *worker) awaitStream(ctx context.Context, msg jetstream.Msg) error {
	stop := keepAlive(msg, w.cfg.AckWait/3)
	defer stop()
	return w.progress.CatchUp(ctx)
}

// awaitViewTimeout bounds awaitView for one message: past it the message
// is settled with the error and comes back later.
const awaitViewTimeout = 30 * time.Second

type loop struct {
	stream, consumer string
	handle           func(jetstream.Msg)
}

// run runs the loops until ctx ends, then waits for the handlers in flight.
// Abort makes the waiting handlers give their work back.
func (w *worker) run(ctx context.Context, loops ...loop) error {
	var wg sync.WaitGroup
	perLoop := max(1, min(256, w.cfg.MaxInFlight/len(loops)))
	for _, l := range loops {
		cons, err := jsensure.LookupConsumer(ctx, w.js, l.stream, l.consumer, w.logger)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fetchLoop(ctx, cons, w.slots, perLoop, w.logger.With("consumer", l.consumer), w.cfg.Paused, w.countRedeliveries(l.consumer, l.handle))
		}()
	}
	wg.Wait()
	w.slots.wg.Wait()
	return nil
}

// countRedeliveries wraps a consumer's handler so that the observer hears
// of each message handed to this node again.
func (w *worker) countRedeliveries(consumer string, handle func(jetstream.Msg)) func(jetstream.Msg) {
	return countRedeliveries(w.obs, consumer, handle)
}

func countRedeliveries(obs Observer, consumer string, handle func(jetstream.Msg)) func(jetstream.Msg) {
	if _, nop := obs.(nopObserver); nop {
		return handle
	}
	return func(msg jetstream.Msg) {
		if meta, err := msg.Metadata(); err == nil && meta.NumDelivered > 1 {
			obs.Redelivered(consumer)
		}
		handle(msg)
	}
}

// Abort cancels the work in flight: attempts are abandoned and left to
// JetStream to redeliver. Call it when a graceful stop runs out of time.
func (w *worker) Abort() { w.abort(errShutdown) }

// settle acknowledges msg, or asks for redelivery a second later when err
// says the work could not be recorded.
func (w *worker) settle(msg jetstream.Msg, err error, log workLog) {
	if errors.Is(err, ErrEventTooLarge) {
		// The stream will refuse it however often the work is done again:
		// redelivering would only call the target again.
		log.Error("outcome too large for the stream even cut down; giving the work up", slog.Any("err", err))
		_ = msg.Term()
		return
	}
	if err != nil {
		log.Warn("could not record outcome; will retry", slog.Any("err", err))
		_ = msg.NakWithDelay(time.Second)
		return
	}
	if err := msg.Ack(); err != nil {
		log.Warn("ack failed", slog.Any("err", err))
	}
}

// enterGate takes the tenant's place for work towards host, or gives msg
// back to the stream for a moment and reports false.
func (w *worker) enterGate(msg jetstream.Msg, tenantID, host string) bool {
	if w.gate.enter(tenantID, host) {
		return true
	}
	_ = msg.NakWithDelay(gateBackoff())
	return false
}

// publishCtx bounds the publishes that record an outcome; they must happen
// even when the work context is being aborted.
func publishCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// slots bounds the handlers running at once on this node. Loops take slots
// before they fetch, so a node never pulls more work than it can start: the
// rest stays in the stream for other nodes.
type slots struct {
	ch chan struct{}
	wg sync.WaitGroup
}

func newSlots(n int) *slots { return &slots{ch: make(chan struct{}, n)} }

// acquire takes at least one slot and at most max, blocking for the first.
func (s *slots) acquire(ctx context.Context, max int) (int, error) {
	select {
	case s.ch <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	n := 1
	for n < max {
		select {
		case s.ch <- struct{}{}:
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// tryAcquire takes a slot if one is free.
func (s *slots) tryAcquire() bool {
	select {
	case s.ch <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *slots) release(n int) {
	for range n {
		<-s.ch
	}
}

// fetchWait is how long one fetch waits for messages: the server keeps
// the pull request that long, even when the fetch is given up sooner.
const fetchWait = 5 * time.Second

// pausePoll is how often a paused fetch loop looks whether it may go on.
const pausePoll = 250 * time.Millisecond

// fetchLoop pulls messages from cons while it has slots and runs handle for
// each in its own goroutine, until ctx ends. Each running handler holds a
// slot; the slots' WaitGroup tracks them for a graceful stop. While paused
// (when not nil) reports true, it fetches nothing.
func fetchLoop(ctx context.Context, cons jetstream.Consumer, s *slots, maxBatch int, logger *slog.Logger, paused func() bool, handle func(jetstream.Msg)) {
	for {
		if paused != nil && paused() {
			sleep(ctx, pausePoll)
			if ctx.Err() != nil {
				return
			}
			continue
		}
		n, err := s.acquire(ctx, maxBatch)
		if err != nil {
			return
		}
		fetchCtx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := cons.Fetch(n, jetstream.FetchContext(fetchCtx))
		if err != nil {
			cancel()
			s.release(n)
			if ctx.Err() != nil {
				return
			}
			logger.Warn("fetch failed", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.release(1)
				handle(msg)
			}()
		}
		cancel()
		s.release(n - got)
		if err := batch.Error(); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			logger.Warn("fetch ended", "err", err)
			sleep(ctx, time.Second)
		}
	}
}

// keepAlive tells JetStream every period that msg is still being worked on,
// so a long attempt is not redelivered, until stop is called.
// A timer, not a goroutine: most work ends before the first signal is due.
func keepAlive(msg jetstream.Msg, period time.Duration) (stop func()) {
	return keepAliveNoting(msg, period, nil)
}

// keepAliveNoting is keepAlive, and sets failed (when not nil) if a
// signal could not be sent: JetStream may then offer msg to another
// worker.
func keepAliveNoting(msg jetstream.Msg, period time.Duration, failed *atomic.Bool) (stop func()) {
	var t *time.Timer
	var mu sync.Mutex
	stopped := false
	t = time.AfterFunc(period, func() {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			if err := msg.InProgress(); err != nil && failed != nil {
				failed.Store(true)
			}
			t.Reset(period)
		}
	})
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		t.Stop()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// workLog logs about one piece of work. Its attributes are kept as plain
// values and made into attributes only when a line is logged, which is
// rare: making them for every attempt would cost an allocation each.
type workLog struct {
	logger           *slog.Logger
	tenantID, taskID string
	what             string
	n                uint64
}

// logFor returns the log of work on a task; what and n name the step
// ("attempt" and its number, "round" and its sequence).
func (w *worker) logFor(tenantID, taskID, what string, n uint64) workLog {
	return workLog{logger: w.logger, tenantID: tenantID, taskID: taskID, what: what, n: n}
}

// Debug, Info, Warn and Error log msg with the work's attributes, then attrs.
func (l workLog) Debug(msg string, attrs ...slog.Attr) { l.log(slog.LevelDebug, msg, attrs) }

func (l workLog) Info(msg string, attrs ...slog.Attr) { l.log(slog.LevelInfo, msg, attrs) }

func (l workLog) Warn(msg string, attrs ...slog.Attr) { l.log(slog.LevelWarn, msg, attrs) }

func (l workLog) Error(msg string, attrs ...slog.Attr) { l.log(slog.LevelError, msg, attrs) }

func (l workLog) log(level slog.Level, msg string, attrs []slog.Attr) {
	ctx := context.Background()
	if !l.logger.Enabled(ctx, level) {
		return
	}
	all := make([]slog.Attr, 0, 3+len(attrs))
	if l.tenantID != "" { // work on no one task (a wake) names none
		all = append(all, slog.String("tenant_id", l.tenantID), slog.String("task_id", l.taskID))
	}
	all = append(append(all, slog.Uint64(l.what, l.n)), attrs...)
	l.logger.LogAttrs(ctx, level, msg, all...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
