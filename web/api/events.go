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
	"github.com/boomerang-dev/boomerang/web/problem"
)

// eventBatch bounds the events read from the view at a time.
const eventBatch = 500

// TaskEvents handles GET /v1/tasks/:id/events: Server-Sent Events of every
// change of one task, from the beginning or after Last-Event-ID. The stream
// ends once the task has finished and its webhook has settled.
func (a *API) TaskEvents(c echo.Context) error {
	if err := checkQuery(c, "lastEventId", "token"); err != nil {
		return err
	}
	task, err := LoadTask(c, a.tasks)
	if err != nil {
		return err
	}
	after, _, err := lastEventID(c)
	if err != nil {
		return err
	}
	tenantID := Principal(c).TenantID
	return a.streamEvents(c, after, func() (<-chan struct{}, func()) {
		return a.hub.WatchTask(tenantID, task.ID)
	}, func(after uint64) ([]broker.Event, bool, error) {
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
	})
}

// TenantEvents handles GET /v1/events, and GET /live for the dashboard's
// live updates: every change of all the tenant's tasks, from now on or
// after Last-Event-ID. It does not end by itself.
func (a *API) TenantEvents(c echo.Context) error {
	if err := checkQuery(c, "lastEventId"); err != nil {
		return err
	}
	tenantID := Principal(c).TenantID
	after, given, err := lastEventID(c)
	if err != nil {
		return err
	}
	if !given {
		if after, err = a.tasks.LastTenantEvent(c.Request().Context(), tenantID); err != nil {
			return err
		}
	}
	return a.streamEvents(c, after, func() (<-chan struct{}, func()) {
		return a.hub.WatchTenant(tenantID)
	}, func(after uint64) ([]broker.Event, bool, error) {
		events, err := a.tasks.TenantEvents(tenantID, after, eventBatch)
		return events, false, err
	})
}

// lastEventID reads where a client resumes: the Last-Event-ID header, or
// ?lastEventId= for clients that cannot set it. given reports whether the
// client named one.
func lastEventID(c echo.Context) (after uint64, given bool, err error) {
	v := c.Request().Header.Get("Last-Event-ID")
	if v == "" {
		v = c.QueryParam("lastEventId")
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, true, problem.Invalid(problem.FieldError{Field: "Last-Event-ID", Message: "must be an event id from this stream"})
	}
	return n, true, nil
}

// streamEvents writes Server-Sent Events. watch registers for the next
// change; read returns the events after a sequence and whether the stream
// is complete. Registering before reading means no change is missed.
func (a *API) streamEvents(c echo.Context, after uint64,
	watch func() (<-chan struct{}, func()),
	read func(after uint64) ([]broker.Event, bool, error),
) error {
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()

	ctx := c.Request().Context()
	heartbeat := time.NewTicker(a.heartbeat)
	defer heartbeat.Stop()
	for {
		changed, stop := watch()
		events, done, err := read(after)
		if err != nil {
			stop()
			a.logger.Warn("event stream read failed", "err", err)
			return nil // the response has started: just end the stream
		}
		for _, e := range events {
			if err := writeEvent(w, e); err != nil {
				stop()
				return nil
			}
			after = e.Seq
		}
		if len(events) > 0 {
			w.Flush()
		}
		if done {
			stop()
			return nil
		}
		if len(events) == eventBatch {
			stop()
			continue // more to catch up on before waiting
		}
		if !a.waitForChange(ctx, changed, heartbeat.C, w) {
			stop()
			return nil
		}
		stop()
	}
}

// waitForChange blocks until changed fires (true), writing heartbeats while
// idle, or until the client goes away or the server shuts down (false).
func (a *API) waitForChange(ctx context.Context, changed <-chan struct{}, beat <-chan time.Time, w *echo.Response) bool {
	for {
		select {
		case <-changed:
			return true
		case <-beat:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return false
			}
			w.Flush()
		case <-ctx.Done():
			return false
		case <-a.closing:
			return false
		}
	}
}

func writeEvent(w *echo.Response, e broker.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, data)
	return err
}
