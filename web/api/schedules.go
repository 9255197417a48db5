package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// noSuchSchedule is the detail of the 404 for an unknown schedule, or
// another tenant's.
const noSuchSchedule = "No such schedule."

// ScheduleRequest is the body of POST /v1/schedules and PATCH
// /v1/schedules/{id} (where every field is optional). Task is read as a
// task body of its own (see newTemplate and patchedTemplate), so that it
// is held to what POST /v1/tasks holds a task to.
type ScheduleRequest struct {
	Cron     *string         `json:"cron"`
	Timezone *string         `json:"timezone"`
	Every    *string         `json:"every"`
	Task     json.RawMessage `json:"task"`
}

// scheduleBody is a schedule as the API shows it.
type scheduleBody struct {
	ID           string                 `json:"id"`
	Cron         string                 `json:"cron,omitempty"`
	Timezone     string                 `json:"timezone,omitempty"`
	Every        string                 `json:"every,omitempty"`
	Task         broker.Spec            `json:"task"`
	Status       broker.ScheduleStatus  `json:"status"`
	CreatedAt    time.Time              `json:"createdAt"`
	UpdatedAt    time.Time              `json:"updatedAt"`
	NextFiringAt *time.Time             `json:"nextFiringAt,omitempty"`
	LastFiring   *broker.ScheduleFiring `json:"lastFiring,omitempty"`
}

func scheduleOf(sc *broker.Schedule) scheduleBody {
	b := scheduleBody{ID: sc.ID, Cron: sc.Cron, Timezone: sc.Timezone, Task: sc.Task, Status: sc.Status,
		CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt, NextFiringAt: sc.NextFiringAt, LastFiring: sc.LastFiring}
	if sc.Every > 0 {
		b.Every = EveryString(sc.Every)
	}
	return b
}

// timing checks the request's timing fields, starting from base (a
// schedule's current timing, for a PATCH). A PATCH that names cron drops
// every, and the other way round.
func (r ScheduleRequest) timing(base broker.ScheduleTiming) (broker.ScheduleTiming, []problem.FieldError) {
	t := base
	if r.Cron != nil && r.Every != nil {
		return t, []problem.FieldError{{Field: "every", Message: "give cron or every, not both"}}
	}
	if r.Cron != nil {
		t.Cron, t.Every = *r.Cron, 0
	}
	if r.Every != nil {
		d, err := time.ParseDuration(*r.Every)
		if err != nil {
			return t, []problem.FieldError{{Field: "every", Message: "must be a duration, like 90s, 15m or 1h30m"}}
		}
		t.Every, t.Cron, t.Timezone = d, "", ""
	}
	if r.Timezone != nil {
		t.Timezone = *r.Timezone
	}
	var te *broker.TimingError
	if err := t.Validate(); errors.As(err, &te) {
		return t, []problem.FieldError{{Field: te.Field, Message: te.Message}}
	}
	return t, nil
}

// invalid is the answer to a schedule body with timing errors errs, the
// template's error err, or both; nil when there are neither.
func invalid(errs []problem.FieldError, err error) error {
	var p *problem.Problem
	switch {
	case err != nil && errors.As(err, &p) && p.Status == http.StatusBadRequest && len(p.Errors) > 0:
		p.Errors = append(errs, p.Errors...)
		return p
	case err != nil:
		return err
	case len(errs) > 0:
		return problem.Invalid(errs...)
	}
	return nil
}

// CreateSchedule handles POST /v1/schedules.
func (a *API) CreateSchedule(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	var req ScheduleRequest
	body, err := a.decoder.decodeJSON(c, &req)
	if err != nil {
		return err
	}
	timing, errs := req.timing(broker.ScheduleTiming{})
	once := broker.ScheduleOnce{Key: c.Request().Header.Get("Idempotency-Key")}
	if msg := checkIdemKey(once.Key); once.Key != "" && msg != "" {
		errs = append(errs, problem.FieldError{Field: "Idempotency-Key", Message: msg})
	}
	spec, err := a.newTemplate(req.Task)
	if err := invalid(errs, err); err != nil {
		return err
	}
	if once.Key != "" {
		once.RequestHash, once.Window = requestHash(body), a.tasks.IdempotencyWindow
	}
	sc, replay, err := a.schedules.CreateOnce(c.Request().Context(), Principal(c).TenantID, timing, spec, once)
	if errors.Is(err, broker.ErrTooManySchedules) {
		return problem.TooManySchedules.New(fmt.Sprintf(
			"This tenant keeps %d schedules, the most it may; delete one first.", a.schedules.MaxPerTenant))
	} else if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/v1/schedules/"+sc.ID)
	if replay {
		c.Response().Header().Set("Idempotent-Replayed", "true")
		return c.JSON(http.StatusOK, scheduleOf(sc))
	}
	return c.JSON(http.StatusCreated, scheduleOf(sc))
}

// ListSchedules handles GET /v1/schedules: the tenant's schedules, oldest
// first, a page at a time (?limit=, default and most 200; ?cursor= the
// nextCursor of the page before).
func (a *API) ListSchedules(c echo.Context) error {
	if err := checkQuery(c, "cursor", "limit"); err != nil {
		return err
	}
	limit, cursor := broker.MaxSchedulePage, c.QueryParam("cursor")
	var errs []problem.FieldError
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > broker.MaxSchedulePage {
			errs = append(errs, problem.FieldError{Field: "limit", Message: fmt.Sprintf("must be an integer from 1 to %d", broker.MaxSchedulePage)})
		}
		limit = n
	}
	if cursor != "" && !broker.ValidScheduleID(cursor) {
		errs = append(errs, problem.FieldError{Field: "cursor", Message: "is not a cursor from a previous page"})
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	list, next, err := a.schedules.Page(c.Request().Context(), Principal(c).TenantID, cursor, limit)
	if err != nil {
		return err
	}
	items := make([]scheduleBody, 0, len(list))
	for i := range list {
		items = append(items, scheduleOf(&list[i]))
	}
	return c.JSON(http.StatusOK, scheduleList{Items: items, NextCursor: next})
}

// scheduleList is a page of schedules.
type scheduleList struct {
	Items      []scheduleBody `json:"items"`
	NextCursor string         `json:"nextCursor,omitempty"`
}

// loadSchedule returns the schedule the :id parameter names.
func (a *API) loadSchedule(c echo.Context) (*broker.Schedule, error) {
	sc, err := a.schedules.Get(c.Request().Context(), Principal(c).TenantID, c.Param("id"))
	return sc, a.scheduleError(err)
}

// GetSchedule handles GET /v1/schedules/:id.
func (a *API) GetSchedule(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	sc, err := a.loadSchedule(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, scheduleOf(sc))
}

// UpdateSchedule handles PATCH /v1/schedules/:id: the fields given replace
// the schedule's; its next firing follows the new timing.
func (a *API) UpdateSchedule(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	sc, err := a.loadSchedule(c) // an unknown schedule is a 404 whatever the body
	if err != nil {
		return err
	}
	var req ScheduleRequest
	if _, err := a.decoder.decodeJSON(c, &req); err != nil {
		return err
	}
	timing, errs := req.timing(sc.ScheduleTiming)
	var spec *broker.Spec
	if req.Task != nil {
		patched, err := a.patchedTemplate(sc.Task, req.Task)
		if err := invalid(errs, err); err != nil {
			return err
		}
		spec = &patched
	}
	if err := invalid(errs, nil); err != nil {
		return err
	}
	sc, err = a.schedules.Update(c.Request().Context(), Principal(c).TenantID, sc.ID, &timing, spec)
	if err != nil {
		return a.scheduleError(err)
	}
	return c.JSON(http.StatusOK, scheduleOf(sc))
}

// DeleteSchedule handles DELETE /v1/schedules/:id; the tasks it made stay.
func (a *API) DeleteSchedule(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	err := a.schedules.Delete(c.Request().Context(), Principal(c).TenantID, c.Param("id"))
	if err != nil {
		return a.scheduleError(err)
	}
	return c.NoContent(http.StatusNoContent)
}

// PauseSchedule handles POST /v1/schedules/:id/pause.
func (a *API) PauseSchedule(c echo.Context) error {
	return a.setScheduleStatus(c, a.schedules.Pause)
}

// ResumeSchedule handles POST /v1/schedules/:id/resume.
func (a *API) ResumeSchedule(c echo.Context) error {
	return a.setScheduleStatus(c, a.schedules.Resume)
}

func (a *API) setScheduleStatus(c echo.Context, op func(ctx context.Context, tenantID, id string) (*broker.Schedule, error)) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	sc, err := op(c.Request().Context(), Principal(c).TenantID, c.Param("id"))
	if err != nil {
		return a.scheduleError(err)
	}
	return c.JSON(http.StatusOK, scheduleOf(sc))
}

// scheduleError gives an unknown schedule its own 404 detail.
func (a *API) scheduleError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, broker.ErrScheduleNotFound) {
		return problem.NotFound.New(noSuchSchedule)
	}
	return err
}
