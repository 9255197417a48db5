package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// noSuchTask is the detail of the 404 for an unknown task, or another
// tenant's, on every route, API or dashboard.
const noSuchTask = "No such task."

// TaskParam returns the :id path parameter, refusing ids that cannot be
// ours with the same 404 as unknown ones.
func TaskParam(c echo.Context) (string, error) {
	id := c.Param("id")
	if !broker.ValidToken(id) {
		return "", problem.NotFound.New(noSuchTask)
	}
	return id, nil
}

// LoadTask returns the task named by the :id parameter, of the tenant the
// request acts for.
func LoadTask(c echo.Context, tasks *broker.Tasks) (*broker.Task, error) {
	id, err := TaskParam(c)
	if err != nil {
		return nil, err
	}
	return getTask(c.Request().Context(), tasks, Principal(c).TenantID, id)
}

// getTask returns the tenant's task, with the same 404 problem for an
// unknown task on every route.
func getTask(ctx context.Context, tasks *broker.Tasks, tenantID, id string) (*broker.Task, error) {
	task, err := tasks.Get(ctx, tenantID, id)
	if errors.Is(err, broker.ErrNotFound) {
		return nil, problem.WithDetail(err, noSuchTask)
	}
	return task, err
}

// GetTask handles GET /v1/tasks/:id. With ?wait= it long-polls: see
// longPoll.
func (a *API) GetTask(c echo.Context) error {
	if err := checkQuery(c, "wait", "token"); err != nil {
		return err
	}
	id, err := TaskParam(c)
	if err != nil {
		return err
	}
	wait, err := a.parseWait(c.QueryParam("wait"))
	if err != nil {
		return err
	}
	if wait > 0 {
		return a.longPoll(c, id, wait)
	}
	task, err := LoadTask(c, a.tasks)
	if err != nil {
		return err
	}
	return taskResponse(c, task)
}

// longPoll answers as soon as the task differs from the version the client
// names in If-None-Match (from the ETag of an earlier answer), or, without
// one, at the task's next change; a settled task is answered at once. A
// version this node's view has not reached yet (the client saw it on
// another node) is waited for first, within the read wait. At the
// deadline, when the server closes, or when the credential expires, it
// answers with the unchanged task. While it waits it holds one of the
// node's stream slots.
func (a *API) longPoll(c echo.Context, id string, wait time.Duration) error {
	p := Principal(c)
	ctx := c.Request().Context()
	if !p.ExpiresAt.IsZero() {
		wait = min(wait, p.ExpiresAt.Sub(a.now()))
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	known := longPollTag(c.Request().Header.Get("If-None-Match"))
	var release func() // the stream slot, taken before the first wait
	caughtUp := false  // with the version named in If-None-Match
	defer func() {
		if release != nil {
			release()
		}
	}()
	for {
		// Watch before reading, so that a change in between is seen.
		changed, stop := a.hub.WatchTask(p.TenantID, id)
		task, err := getTask(ctx, a.tasks, p.TenantID, id)
		if err != nil {
			stop()
			return err
		}
		if known == "" {
			known = etag(task)
		}
		if v, ok := etagVersion(known); ok && v > task.Version && !caughtUp {
			// The client has seen a later version, on another node: wait
			// for this node's view to apply it rather than answer with an
			// older one.
			stop()
			caughtUp = true
			a.logger.Debug("long-poll waits for the view to reach the version the client saw", "tenant_id", p.TenantID,
				"task_id", id, "version", v, "view_version", task.Version)
			_ = a.tasks.WaitApplied(ctx, v)
			continue
		}
		if task.Settled() || etag(task) != known {
			stop()
			return taskResponse(c, task)
		}
		if release == nil {
			if release, err = a.holdStream(c, false); err != nil {
				stop()
				return err
			}
		}
		select {
		case <-changed:
			stop()
			continue
		case <-deadline.C:
		case <-ctx.Done():
		case <-a.closing:
		}
		stop()
		return taskResponse(c, task)
	}
}

// etag is the entity tag of a task's current version. It is weak: the
// version names the task's state, whose JSON differs by credential (a
// status token reads the public view) and by content coding (gzip), so
// two answers with the same tag are equivalent, not byte for byte equal.
func etag(t *broker.Task) string { return `W/"` + strconv.FormatUint(t.Version, 10) + `"` }

// etagVersion returns the version an entity tag made by etag names (weak
// or strong); ok is false for any other tag.
func etagVersion(tag string) (version uint64, ok bool) {
	tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
	if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
		return 0, false
	}
	v, err := strconv.ParseUint(tag[1:len(tag)-1], 10, 64)
	return v, err == nil
}

// taskResponse answers with the task: all of it to an API key, its public
// view to a status token; or 304 Not Modified, without a body, when the
// request's If-None-Match names the task's current version.
func taskResponse(c echo.Context, task *broker.Task) error {
	c.Response().Header().Set("ETag", etag(task))
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && etagMatches(inm, task) {
		return c.NoContent(http.StatusNotModified)
	}
	if isStatusToken(Principal(c)) {
		return c.JSON(http.StatusOK, publicView(task))
	}
	return c.JSON(http.StatusOK, task)
}

// etagMatches reports whether an If-None-Match value names the task's
// current version: "*", or a list of entity tags one of which equals its
// tag by the weak comparison (RFC 9110, 13.1.2), which ignores W/, so a
// strong "12" names version 12 as well.
func etagMatches(ifNoneMatch string, t *broker.Task) bool {
	want := strings.TrimPrefix(etag(t), "W/")
	for _, tag := range strings.Split(ifNoneMatch, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
			return true
		}
	}
	return false
}

// longPollTag is the version a long-poll waits to see change, from its
// If-None-Match: one entity tag, weak or strong, as etag writes it ("12"
// is W/"12"). Anything else (a list, "*") is left as it is, and so differs
// from every version: the long-poll answers at once (304 when it names the
// current one).
func longPollTag(ifNoneMatch string) string {
	tag := strings.TrimSpace(ifNoneMatch)
	if v := strings.TrimPrefix(tag, "W/"); len(v) > 2 && v[0] == '"' && v[len(v)-1] == '"' && !strings.Contains(v, ",") {
		return "W/" + v
	}
	return tag
}

// parseWait parses ?wait=: a Go duration ("30s") or a number of seconds.
func (a *API) parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, perr := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if perr != nil {
			return 0, problem.Invalid(problem.FieldError{Field: "wait", Message: "must be a duration like 30s"})
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 || d > a.limits.MaxLongPoll {
		return 0, problem.Invalid(problem.FieldError{Field: "wait", Message: "must be between 0s and " + a.limits.MaxLongPoll.String()})
	}
	return d, nil
}

// TaskStatus handles GET /v1/tasks/:id/status, the status monitor: 200 with
// Retry-After while the task runs, 303 to the result once it has finished.
func (a *API) TaskStatus(c echo.Context) error {
	if err := checkQuery(c, "token"); err != nil {
		return err
	}
	task, err := LoadTask(c, a.tasks)
	if err != nil {
		return err
	}
	if task.Status.Finished() {
		location := "/v1/tasks/" + task.ID + "/result"
		if token := c.QueryParam("token"); token != "" {
			location += "?token=" + url.QueryEscape(token) // a browser follows with the same token
		}
		return c.Redirect(http.StatusSeeOther, location)
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(a.retryAfterSeconds(task)))
	return c.JSON(http.StatusOK, taskStatusBody{
		ID: task.ID, Status: task.Status, AttemptCount: task.AttemptCount, NextAttemptAt: task.NextAttemptAt,
	})
}

type taskStatusBody struct {
	ID            string        `json:"id"`
	Status        broker.Status `json:"status"`
	AttemptCount  int           `json:"attemptCount"`
	NextAttemptAt *time.Time    `json:"nextAttemptAt,omitempty"`
}

// retryAfterSeconds is when polling the status is next worth it: the next
// attempt's time, or a second while an attempt may be running.
func (a *API) retryAfterSeconds(t *broker.Task) int {
	if t.NextAttemptAt != nil {
		if d := t.NextAttemptAt.Sub(a.now()); d > time.Second {
			return int((d + time.Second - 1) / time.Second)
		}
	}
	return 1
}

// TaskResult handles GET /v1/tasks/:id/result: the final response or
// error, 409 before the task has finished.
func (a *API) TaskResult(c echo.Context) error {
	if err := checkQuery(c, "token"); err != nil {
		return err
	}
	id, err := TaskParam(c)
	if err != nil {
		return err
	}
	task, err := a.tasks.GetSettled(c.Request().Context(), Principal(c).TenantID, id)
	if errors.Is(err, broker.ErrNotFound) {
		return problem.WithDetail(err, noSuchTask)
	}
	if err != nil {
		return err
	}
	if !task.Status.Finished() {
		return problem.WithDetail(broker.ErrNotFinished, "The task is "+string(task.Status)+"; its result is not known yet.")
	}
	res := taskResultBody{ID: task.ID, Status: task.Status}
	if task.Result != nil {
		res.Result = *task.Result
		if isStatusToken(Principal(c)) {
			res.Result = *publicResult(task.Result, task.Spec)
		}
	} else {
		res.Error = "task canceled"
	}
	return c.JSON(http.StatusOK, res)
}

type taskResultBody struct {
	ID     string        `json:"id"`
	Status broker.Status `json:"status"`
	broker.Result
}
