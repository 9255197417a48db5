package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// eventBatch bounds the events read from the view at a time.
const eventBatch = 500

// TaskEvents handles GET /v1/tasks/:id/events: Server-Sent Events of every
// change of one task, from the beginning or after Last-Event-ID. The stream
// ends once the task has finished and its webhook has settled. A status
// token reads the events as the public view shows them.
func (a *API) TaskEvents(c echo.Context) error {
	if err := checkQuery(c, "lastEventId", "token"); err != nil {
		return err
	}
	task, err := LoadTask(c, a.tasks)
	if err != nil {
		return err
	}
	tenantID := Principal(c).TenantID
	after, _, err := a.resumeAfter(c, func() (uint64, error) {
		t, err := getTask(c.Request().Context(), a.tasks, tenantID, task.ID)
		if err != nil {
			return 0, err
		}
		return t.Version, nil
	})
	if err != nil {
		return err
	}
	s := eventStream{after: after, watch: func() (<-chan struct{}, func()) {
		return a.hub.WatchTask(tenantID, task.ID)
	}, read: func(after uint64) ([]broker.Event, bool, error) {
		events, err := a.tasks.TaskEvents(tenantID, task.ID, after, eventBatch)
		if err != nil || len(events) == eventBatch {
			return events, false, err
		}
		// Everything up to now has been read: the stream may end if the
		// task will not change any more.
		t, err := a.tasks.Get(c.Request().Context(), tenantID, task.ID)
		if err != nil {
			return events, false, err
		}
		last := after
		if len(events) > 0 {
			last = events[len(events)-1].Seq
		}
		return events, t.Settled() && t.Version <= last, nil
	}}
	if isStatusToken(Principal(c)) {
		s.public = &task.Spec
	}
	return a.streamEvents(c, s)
}

// TenantEvents handles GET /v1/events, and GET /live for the dashboard's
// live updates: every change of all the tenant's tasks, from now on or
// after Last-Event-ID. It does not end by itself.
func (a *API) TenantEvents(c echo.Context) error {
	if err := checkQuery(c, "lastEventId"); err != nil {
		return err
	}
	tenantID := Principal(c).TenantID
	ctx := c.Request().Context()
	last := func() (uint64, error) { return a.tasks.LastTenantEvent(ctx, tenantID) }
	after, given, err := a.resumeAfter(c, last)
	if err != nil {
		return err
	}
	if !given {
		if after, err = last(); err != nil {
			return err
		}
	}
	return a.streamEvents(c, eventStream{after: after, wide: true, watch: func() (<-chan struct{}, func()) {
		return a.hub.WatchTenant(tenantID)
	}, read: func(after uint64) ([]broker.Event, bool, error) {
		events, err := a.tasks.TenantEvents(tenantID, after, eventBatch)
		return events, false, err
	}})
}

// resumeAfter reads where a client resumes: the Last-Event-ID header (an
// EventSource sends it when it reconnects), or else ?lastEventId= (for
// clients that cannot set it); given is false when neither is. Each must be a
// number no greater than the stream's last event, which last returns:
// first as this node's view has it, and, when the id is beyond it, again
// once the view has caught up with the stream, as the id may come from a
// node that is ahead.
func (a *API) resumeAfter(c echo.Context, last func() (uint64, error)) (after uint64, given bool, err error) {
	caughtUp := false
	for _, f := range []struct{ field, value string }{
		{"lastEventId", c.QueryParam("lastEventId")},
		{"Last-Event-ID", c.Request().Header.Get("Last-Event-ID")},
	} {
		if f.value == "" {
			continue
		}
		n, err := strconv.ParseUint(f.value, 10, 64)
		if err != nil {
			return 0, true, problem.Invalid(problem.FieldError{Field: f.field, Message: "must be the id of an event of this stream"})
		}
		end, err := last()
		if err == nil && n > end && !caughtUp {
			if err := a.tasks.CatchUp(c.Request().Context()); err != nil {
				return 0, true, problem.Unavailable.New("This node has not yet seen the event named by " + f.field + "; retry.")
			}
			caughtUp = true
			end, err = last()
		}
		if err != nil {
			return 0, true, err
		}
		if n > end {
			return 0, true, problem.Invalid(problem.FieldError{Field: f.field,
				Message: fmt.Sprintf("is beyond the last event of this stream (%d)", end)})
		}
		after, given = n, true // the header, when given, overrides the query
	}
	return after, given, nil
}

// eventStream is what streamEvents needs of a stream. watch registers for
// the next change; read returns the events after a sequence and whether the
// stream is complete. public, when set, is the spec of the task a status
// token reads: its events are made public with it. wide says that the
// stream carries all the tenant's events.
type eventStream struct {
	after  uint64
	watch  func() (<-chan struct{}, func())
	read   func(after uint64) ([]broker.Event, bool, error)
	public *broker.Spec
	wide   bool // all the tenant's events
}

// streamEvents writes Server-Sent Events, holding one of the node's stream
// slots, until the stream is complete, the client goes away, the server
// closes, or the credential that opened it expires or is revoked.
// Registering before reading means no change is missed.
func (a *API) streamEvents(c echo.Context, s eventStream) error {
	release, err := a.holdStream(c, s.wide)
	if err != nil {
		return err
	}
	defer release()
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()

	p := Principal(c)
	heartbeat := time.NewTicker(a.heartbeat)
	defer heartbeat.Stop()
	expiry, stopExpiry := a.expiryTimer(p)
	defer stopExpiry()
	wait := waiting{ctx: c.Request().Context(), beat: heartbeat.C, expiry: expiry, p: p, w: w}
	for after := s.after; !a.credentialEnded(p); {
		changed, stop := s.watch()
		done, more, err := a.writeEvents(w, s, &after)
		if err != nil || done {
			stop()
			return nil // the response has started: just end the stream
		}
		if more {
			stop()
			continue // more to catch up on before waiting
		}
		wait.changed = changed
		ok := a.waitForChange(wait)
		stop()
		if !ok {
			return nil
		}
	}
	return nil
}

// writeEvents writes the events after *after and moves it on; done reports
// that the stream is complete, more that a full batch was read.
func (a *API) writeEvents(w *echo.Response, s eventStream, after *uint64) (done, more bool, err error) {
	events, done, err := s.read(*after)
	if err != nil {
		a.logger.Warn("event stream read failed", "err", err)
		return false, false, err
	}
	for _, e := range events {
		if s.public != nil {
			e = publicEvent(e, *s.public)
		}
		if err := writeEvent(w, e); err != nil {
			return false, false, err
		}
		*after = e.Seq
	}
	if len(events) > 0 {
		w.Flush()
	}
	return done, len(events) == eventBatch, nil
}

// waiting is what an event stream waits on between changes.
type waiting struct {
	ctx     context.Context
	changed <-chan struct{}
	beat    <-chan time.Time
	expiry  <-chan time.Time
	p       tenant.Principal
	w       *echo.Response
}

// waitForChange blocks until changed fires (true), writing heartbeats while
// idle, or until the client goes away, the server shuts down, or the
// credential ends (false).
func (a *API) waitForChange(wt waiting) bool {
	for {
		select {
		case <-wt.changed:
			return true
		case <-wt.beat:
			if a.credentialEnded(wt.p) {
				return false
			}
			if _, err := fmt.Fprint(wt.w, ": heartbeat\n\n"); err != nil {
				return false
			}
			wt.w.Flush()
		case <-wt.expiry:
			return false
		case <-wt.ctx.Done():
			return false
		case <-a.closing:
			return false
		}
	}
}

// expiryTimer fires when p's credential expires (never for an API key);
// stop releases it.
func (a *API) expiryTimer(p tenant.Principal) (fire <-chan time.Time, stop func()) {
	if p.ExpiresAt.IsZero() {
		return nil, func() {}
	}
	t := time.NewTimer(p.ExpiresAt.Sub(a.now()))
	return t.C, func() { t.Stop() }
}

// credentialEnded reports whether the credential a stream was opened with
// is no longer valid: a status token or session past its expiry (on the
// API's clock), or an API key revoked since (a session opened with a key
// ends with it).
func (a *API) credentialEnded(p tenant.Principal) bool {
	if !p.ExpiresAt.IsZero() && !a.now().Before(p.ExpiresAt) {
		return true
	}
	return p.KeyID != "" && a.tenants != nil && !a.tenants.KeyActive(p.TenantID, p.KeyID)
}

func writeEvent(w *echo.Response, e broker.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, data)
	return err
}
