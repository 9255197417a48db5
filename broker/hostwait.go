package broker

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The waiting room: work that only a host's adaptive limit refuses waits
// on the node, per (tenant, host) and in order, instead of being given
// back to the stream for a second in a loop. Its dispatcher slot is given
// back; the message stays unacknowledged, kept in progress (keepAlive) so
// that JetStream does not offer it again. When an attempt to the host
// releases its permit, the goroutine that made it settles its own message
// and then runs the oldest waiting one in the same slot (a hand-off), so
// the node never makes more calls than its slots, and a freed place is
// used at once. A tender (tendRoom) starts waiting work when a place is
// free and nothing will hand off (the limit rose, the last call was
// aborted), sends it to the end of a Retry-After's pause, and gives it
// all back at shutdown.

// Bounds of the waiting room, defaults of AdaptiveConfig's fields.
const (
	DefaultWaitingMax      = 1000
	DefaultWaitingBytes    = 64 << 20
	DefaultWaitingPerLimit = 4
	// tendEvery is how often the tender looks at the rooms: a safety net,
	// since hand-offs start almost all the waiting work.
	tendEvery = 200 * time.Millisecond
)

// waiter is a message waiting for a place towards its host.
type waiter struct {
	msg    jetstream.Msg
	due    taskDue
	fresh  bool
	waited bool   // it has been in the room: its checks were made
	size   int    // bytes of message data it holds
	stop   func() // ends its keepAlive
	// lost is set when a keep-alive signal failed: the message may have
	// been offered to another node meanwhile, so its checks are made
	// again.
	lost atomic.Bool
}

// waitingRoom holds the waiters of one dispatcher, per destination. A nil
// *waitingRoom holds nothing.
type waitingRoom struct {
	maxN, maxBytes, perLimit int
	keepEvery                time.Duration

	mu     sync.Mutex
	rooms  map[destKey][]*waiter
	n      int
	bytes  int
	closed bool
	// cancels counts the canceled waiters being settled, so that Run
	// waits for them.
	cancels sync.WaitGroup
}

func newWaitingRoom(cfg AdaptiveConfig, ackWait time.Duration) *waitingRoom {
	if cfg.Off || cfg.WaitingMax < 0 {
		return nil
	}
	return &waitingRoom{maxN: cfg.WaitingMax, maxBytes: cfg.WaitingBytes, perLimit: cfg.WaitingPerLimit,
		keepEvery: ackWait / 3, rooms: map[destKey][]*waiter{}}
}

// enter puts w at the end of k's room, or reports false when a bound is
// reached: the room's in messages or bytes, or k's share: limit ×
// perLimit, but at least half the room's messages. Four limits' worth is
// only four calls' time of work (0.4 s for calls of 100 ms), less than the
// second the work beyond the room spends out in the stream: the room ran
// dry between its returns, and most of a backlog kept cycling (the
// AdaptiveConcurrency benchmark). Half the room still leaves the other
// half to the other hosts.
func (r *waitingRoom) enter(k destKey, w *waiter, limit int) bool {
	if r == nil {
		return false
	}
	w.size = len(w.msg.Data())
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.rooms[k]
	if r.closed || r.n >= r.maxN || r.bytes+w.size > r.maxBytes || len(q) >= max(r.perLimit*max(1, limit), r.maxN/2) {
		return false
	}
	r.add(k, append(q, w), w)
	return true
}

// putBack returns w to the head of k's room: the attempt it was taken
// for found no place (the limit fell). It was counted in the room's
// bounds before, so they are not checked again. A closed room gives it
// back to the stream.
func (r *waitingRoom) putBack(k destKey, w *waiter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		_ = w.msg.NakWithDelay(closedDelay)
		return
	}
	r.add(k, append([]*waiter{w}, r.rooms[k]...), w)
}

// add stores q as k's room, w being new in it. r.mu is held.
func (r *waitingRoom) add(k destKey, q []*waiter, w *waiter) {
	w.waited = true
	w.lost.Store(false)
	w.stop = keepAliveNoting(w.msg, r.keepEvery, &w.lost)
	r.rooms[k] = q
	r.n++
	r.bytes += w.size
}

// take removes and returns the oldest waiter of k's room, nil when none.
func (r *waitingRoom) take(k destKey) *waiter {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.rooms[k]
	if len(q) == 0 {
		return nil
	}
	w := q[0]
	q[0] = nil
	if len(q) == 1 {
		delete(r.rooms, k)
	} else {
		r.rooms[k] = q[1:]
	}
	r.left(w)
	return w
}

// takeAll removes and returns every waiter of k's room.
func (r *waitingRoom) takeAll(k destKey) []*waiter {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.rooms[k]
	delete(r.rooms, k)
	for _, w := range q {
		r.left(w)
	}
	return q
}

// left counts w out of the room and ends its keepAlive. r.mu is held.
func (r *waitingRoom) left(w *waiter) {
	w.stop()
	r.n--
	r.bytes -= w.size
}

// remove takes the task's waiter out of the room, nil when it waits in
// none. A waiter found is counted in cancels until its settle is done.
func (r *waitingRoom) remove(tenantID, taskID string) *waiter {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, q := range r.rooms {
		if k.tenantID != tenantID {
			continue
		}
		for i, w := range q {
			if w.due.TaskID != taskID {
				continue
			}
			q = append(q[:i:i], q[i+1:]...)
			if len(q) == 0 {
				delete(r.rooms, k)
			} else {
				r.rooms[k] = q
			}
			r.left(w)
			r.cancels.Add(1)
			return w
		}
	}
	return nil
}

// giveBackDelay is the delay of work the room refuses: closedDelay once
// it is closed, else the gate's.
func (r *waitingRoom) giveBackDelay() time.Duration {
	if r != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return closedDelay
		}
	}
	return gateBackoff()
}

// waiting returns how many messages wait per destination.
func (r *waitingRoom) waiting() map[destKey]int {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[destKey]int, len(r.rooms))
	for k, q := range r.rooms {
		out[k] = len(q)
	}
	return out
}

// closedDelay is how long work a closed room gives back waits before the
// stream offers it again: past the pull requests this node's fetches left
// with the server (fetchWait), which would take it and drop it, leaving it
// to the ack wait.
const closedDelay = fetchWait + time.Second

// close empties the room for good and gives every waiter back to the
// stream at once (offered again after closedDelay); work refused from now
// on is given back the same way.
func (r *waitingRoom) close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for k, q := range r.rooms {
		for _, w := range q {
			r.left(w)
			_ = w.msg.NakWithDelay(closedDelay)
		}
		delete(r.rooms, k)
	}
}

// wait puts w, refused by k's adaptive limit only, in the room, or gives
// it back to the stream for a moment when the room is full (as a full
// gate does). A waiter taken from the room goes back to its head.
func (d *Dispatcher) wait(k destKey, w *waiter, limit int) {
	switch {
	case w.waited && d.room != nil:
		d.room.putBack(k, w)
	case !d.room.enter(k, w, limit):
		_ = w.msg.NakWithDelay(d.room.giveBackDelay())
	}
}

// holdPaused schedules w and all that waits for k again for the end of
// k's pause, spread over maxHoldJitter.
func (d *Dispatcher) holdPaused(k destKey, w *waiter, until time.Time) {
	all := d.room.takeAll(k)
	if w != nil {
		all = append([]*waiter{w}, all...)
	}
	for _, w := range all {
		due := w.due
		at := until.Add(time.Duration(rand.Int64N(int64(maxHoldJitter))))
		log := d.logFor(due.TenantID, due.TaskID, "attempt", uint64(due.Attempt))
		d.scheduleAgain(w.msg, dueTask, due.TenantID, due.TaskID, at, due, log, "held: the host is paused by its Retry-After")
	}
}

// cancelWaiting settles the waiter of a task just canceled, if it waits,
// as attempt settles a canceled task (the cancel is in the memory now).
func (d *Dispatcher) cancelWaiting(tenantID, taskID string) {
	w := d.room.remove(tenantID, taskID)
	if w == nil {
		return
	}
	go func() {
		defer d.room.cancels.Done()
		d.attemptOne(w)
	}()
}

// tendRoom looks at the rooms every tendEvery until ctx ends, then closes
// the room (every waiter back to the stream) and returns once the work it
// started has ended.
func (d *Dispatcher) tendRoom(ctx context.Context) {
	if d.room == nil {
		return
	}
	var started sync.WaitGroup
	t := time.NewTicker(tendEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			d.room.close()
			started.Wait()
			d.room.cancels.Wait()
			return
		case <-t.C:
			d.tend(&started)
		}
	}
}

// tend sends the rooms of paused hosts to their pause's end, and starts
// waiting work where its host has free places and a dispatcher slot is
// free: each started attempt hands off to the next as usual.
func (d *Dispatcher) tend(started *sync.WaitGroup) {
	if d.paused() {
		return
	}
	for k := range d.room.waiting() {
		free, _, until := d.adaptive.places(k)
		if !until.IsZero() {
			d.holdPaused(k, nil, until)
			continue
		}
		for ; free > 0 && d.slots.tryAcquire(); free-- {
			w := d.room.take(k)
			if w == nil {
				d.slots.release(1)
				break
			}
			started.Add(1)
			go func() {
				defer started.Done()
				defer d.slots.release(1)
				d.attemptFrom(w)
			}()
		}
	}
}

// paused reports whether the node starts no work for now (see
// WorkerConfig.Paused): the room's work waits until it may.
func (d *Dispatcher) paused() bool {
	return d.cfg.Paused != nil && d.cfg.Paused()
}
