package api

import (
	"fmt"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// eventBatch bounds the events read from the view at a time.
const eventBatch = 500

// TaskEvents handles GET /v1/tasks/:id/events: Server-Sent Events of every
// change of one task, from the beginning or after Last-Event-ID. The stream
// ends once the task has finished and its webhook has settled. A status
// token reads the events as the public view shows them.
func (a *API) TaskEvents(c echo.Context) error {
	s, err := a.taskStream(c)
	if err != nil {
		return err
	}
	return a.streamSSE(c, s)
}

// TenantEvents handles GET /v1/events, and GET /live for the dashboard's
// live updates: every change of all the tenant's tasks, from now on or
// after Last-Event-ID. It does not end by itself.
func (a *API) TenantEvents(c echo.Context) error {
	s, err := a.tenantStream(c)
	if err != nil {
		return err
	}
	return a.streamSSE(c, s)
}

// taskStream checks a request for one task's events (its query, the task,
// where it resumes) and returns the stream, which SSE and WebSocket serve
// alike.
func (a *API) taskStream(c echo.Context) (eventStream, error) {
	if err := checkQuery(c, "lastEventId", "token"); err != nil {
		return eventStream{}, err
	}
	task, err := LoadTask(c, a.tasks)
	if err != nil {
		return eventStream{}, err
	}
	tenantID := Principal(c).TenantID
	ctx := c.Request().Context()
	after, _, err := a.resumeAfter(c, func() (uint64, error) {
		t, err := getTask(ctx, a.tasks, tenantID, task.ID)
		if err != nil {
			return 0, err
		}
		return t.Version, nil
	})
	if err != nil {
		return eventStream{}, err
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
		t, err := a.tasks.Get(ctx, tenantID, task.ID)
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
	return s, nil
}

// tenantStream checks a request for all the tenant's events (its query,
// where it resumes: from now on unless it names an event) and returns the
// stream, which SSE and WebSocket serve alike.
func (a *API) tenantStream(c echo.Context) (eventStream, error) {
	if err := checkQuery(c, "lastEventId"); err != nil {
		return eventStream{}, err
	}
	tenantID := Principal(c).TenantID
	ctx := c.Request().Context()
	last := func() (uint64, error) { return a.tasks.LastTenantEvent(ctx, tenantID) }
	after, given, err := a.resumeAfter(c, last)
	if err != nil {
		return eventStream{}, err
	}
	if !given {
		if after, err = last(); err != nil {
			return eventStream{}, err
		}
	}
	return eventStream{after: after, wide: true, watch: func() (<-chan struct{}, func()) {
		return a.hub.WatchTenant(tenantID)
	}, read: func(after uint64) ([]broker.Event, bool, error) {
		events, err := a.tasks.TenantEvents(tenantID, after, eventBatch)
		return events, false, err
	}}, nil
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
