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

// The admitter: what a kick of a key does, on whichever node the shared
// consumer hands it to. It reads the key's state and queue, decides what
// to admit, writes the state with the sequence it read (of two nodes one
// wins; the other reads again), and only then publishes the admitted
// tasks' dues, trims the queue and, when the rate holds the next task
// back, arms the key's one timer. The kick is acknowledged last, so a
// node that dies anywhere in between leaves it to be redelivered; the
// entries it admitted are still in the queue (at or below the state's
// Admitted sequence, untrimmed), and every admitter run publishes their
// dues again first (with the same message id, so the stream drops a
// copy of one that was published within its duplicate window).

// admission is what one run of the admitter decided.
type admission struct {
	changed bool
	// admitted are the dues to publish, redo those a run that stopped
	// before trimming admitted (published again, harmlessly).
	admitted, redo []taskDue
	// blockedUntil is when the rate lets the next task in (zero: it
	// does not hold anything back).
	blockedUntil time.Time
	// more says the queue holds entries past the batch read.
	more bool
}

// handleKick runs the admitter of the key a kick names.
func (d *Dispatcher) handleKick(msg jetstream.Msg) {
	tenantID, token, ok := parseKick(msg.Subject())
	if !ok {
		d.logger.Error("dropping malformed key kick", "subject", msg.Subject())
		_ = msg.Term()
		return
	}
	ctx, cancel := context.WithTimeout(d.work, time.Minute)
	defer cancel()
	err := d.admit(ctx, keyRef{TenantID: tenantID, Token: token})
	d.settle(msg, err, workLog{logger: d.logger, tenantID: tenantID, what: "key"})
}

// admit runs the admitter of key k once, retrying while another node's
// write comes first.
func (d *Dispatcher) admit(ctx context.Context, k keyRef) error {
	for try := 0; ; try++ {
		s, seq, err := d.pub.keyState(ctx, k, try > 0)
		if err != nil {
			return err
		}
		if s == nil {
			s = &keyState{}
		}
		entries, err := d.pub.readKeyQueue(ctx, k, 0)
		if err != nil {
			return err
		}
		a := d.plan(k, s, entries)
		if a.changed {
			_, err = d.pub.writeKeyState(ctx, k, s, seq)
			if errors.Is(err, ErrConflict) && try < maxKeyTries {
				sleep(ctx, keyRetryPause(try))
				continue
			} else if err != nil {
				return err
			}
		}
		return d.carryOut(ctx, k, s, a, entries)
	}
}

// plan decides, on the state s it changes, what the run admits from the
// queue's entries (read from the queue's first one on).
func (d *Dispatcher) plan(k keyRef, s *keyState, entries []parkedWait) admission {
	var a admission
	a.changed = d.sweep(k.TenantID, s)
	now := d.cfg.Now()
	for _, e := range entries {
		var due taskDue
		ref, ok := keyRef{}, false
		if json.Unmarshal(e.data, &due) == nil {
			ref, ok = keyOf(k.TenantID, due.Spec)
		}
		if e.seq <= s.Admitted {
			if ok && s.holds(due.TaskID) && !d.attemptedAt(k.TenantID, due.TaskID, due.Attempt) {
				a.redo = append(a.redo, due)
			}
			continue
		}
		if !ok { // not ours to run: skip it
			s.Admitted, a.changed = e.seq, true
			continue
		}
		a.changed = s.reconfigure(ref, due.Spec) || a.changed
		// A task finished, or an entry for an attempt already made (one a
		// failed trim left behind a state that has since been forgotten).
		if d.attemptedAt(k.TenantID, due.TaskID, due.Attempt) || s.duplicate(due) {
			s.Admitted, a.changed = e.seq, true
			continue
		}
		if s.Paused || s.full() || s.holds(due.TaskID) {
			return a // a task's next attempt waits for its last one's release
		}
		allowed, next := s.rateAllows(now)
		if !allowed {
			a.blockedUntil = next
			return a
		}
		s.Admitted, a.changed = e.seq, true
		s.Holding = append(s.Holding, keyHolder{TaskID: due.TaskID, Attempt: due.Attempt, Since: now.UTC()})
		a.admitted = append(a.admitted, due)
	}
	// Every entry read was taken or skipped: the queue may hold more.
	a.more = a.changed && len(entries) > 0
	return a
}

// sweep drops the slots whose release was lost (a crash between the end
// and the release): of tasks this node's view shows finished, and for
// flow control, held for an attempt the view shows recorded. A view
// behind shows neither, which only keeps the slot longer.
func (d *Dispatcher) sweep(tenantID string, s *keyState) bool {
	changed := false
	for i := len(s.Holding) - 1; i >= 0; i-- {
		h := s.Holding[i]
		if d.finished(tenantID, h.TaskID) || (s.Kind == KeyFlowControl && d.attemptedAt(tenantID, h.TaskID, h.Attempt)) {
			s.Holding = append(s.Holding[:i:i], s.Holding[i+1:]...)
			changed = true
		}
	}
	return changed
}

// finished reports whether this node's view shows the task finished (or
// gone: pruned or erased).
func (d *Dispatcher) finished(tenantID, taskID string) bool {
	rec, err := d.view.state(tenantID, taskID)
	return err == nil && rec != nil && rec.Status.Finished()
}

// attemptedAt reports whether this node's view shows the task's attempt
// made (or the task finished).
func (d *Dispatcher) attemptedAt(tenantID, taskID string, attempt int) bool {
	rec, err := d.view.state(tenantID, taskID)
	return err == nil && rec != nil && (rec.AttemptCount >= attempt || rec.Status.Finished())
}

// carryOut publishes the dues a run admitted (and those a run before it
// may not have), trims the queue and arms the rate's timer.
func (d *Dispatcher) carryOut(ctx context.Context, k keyRef, s *keyState, a admission, entries []parkedWait) error {
	for _, due := range append(a.redo, a.admitted...) {
		if err := d.publishAdmitted(ctx, due); err != nil {
			return err
		}
		log := d.logFor(due.TenantID, due.TaskID, "attempt", uint64(due.Attempt))
		log.Debug("admitted by its key", slog.String("key_kind", s.Kind))
	}
	if len(entries) > 0 && entries[0].seq <= s.Admitted {
		d.pub.trimKeyQueue(ctx, k, s.Admitted, d.logger)
	}
	if !a.blockedUntil.IsZero() {
		if err := d.pub.armKeyTimer(ctx, k, a.blockedUntil); err != nil {
			return err
		}
	}
	if a.more {
		return d.pub.kickKey(ctx, k)
	}
	return nil
}

// publishAdmitted publishes an admitted task's due: at once, or for a
// task that must not start yet (an ordering key's, admitted before its
// notBefore), as a schedule.
func (d *Dispatcher) publishAdmitted(ctx context.Context, due taskDue) error {
	due.Admitted = true
	if nb := due.Spec.NotBefore; due.Attempt == 1 && nb != nil && nb.After(d.cfg.Now()) {
		return d.pub.schedule(ctx, dueTask, due.TenantID, due.TaskID, *nb, due)
	}
	data, err := encodeFit(due, d.pub.maxData())
	if err != nil {
		return fmt.Errorf("broker: encode due: %w", err)
	}
	msg := nats.NewMsg(dueSubject(dueTask, due.TenantID, due.TaskID))
	msg.Header.Set(jetstream.MsgIDHeader, "keydue:"+due.TenantID+":"+due.TaskID+":"+strconv.Itoa(due.Attempt))
	msg.Data = data
	_, err = d.pub.publish(ctx, msg)
	return err
}
