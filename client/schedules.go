package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ScheduleStatus is whether a schedule fires.
type ScheduleStatus string

// Schedule statuses.
const (
	ScheduleActive ScheduleStatus = "active"
	SchedulePaused ScheduleStatus = "paused"
)

// ScheduleTiming is when a schedule fires: Cron, a five-field pattern
// (minute hour day-of-month month day-of-week, or @hourly, @daily, …) in
// the IANA time zone Timezone (UTC when empty), or Every, an interval of
// at least a second. Give one of Cron and Every.
type ScheduleTiming struct {
	Cron     string
	Timezone string
	Every    time.Duration
}

// Cron is the timing of a cron pattern in an IANA time zone ("" for UTC).
func Cron(pattern, timezone string) ScheduleTiming {
	return ScheduleTiming{Cron: pattern, Timezone: timezone}
}

// Every is the timing of an interval.
func Every(d time.Duration) ScheduleTiming { return ScheduleTiming{Every: d} }

// Summary says the timing as the CLI does: "every 1m0s", or the pattern
// and its time zone. (Not String: Schedule embeds ScheduleTiming, and
// would print as its timing alone.)
func (s ScheduleTiming) Summary() string {
	switch {
	case s.Every > 0:
		return "every " + s.Every.String()
	case s.Timezone != "":
		return s.Cron + " (" + s.Timezone + ")"
	}
	return s.Cron + " (UTC)"
}

// ScheduleTask is a schedule's task template, with the server's defaults
// filled in: each firing creates a task with these fields.
type ScheduleTask struct {
	TargetURL         string            `json:"targetUrl"`
	Method            string            `json:"method"`
	Headers           map[string]string `json:"headers,omitempty"`
	Payload           json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64     []byte            `json:"payloadBase64,omitempty"`
	ContentType       string            `json:"contentType,omitempty"`
	WebhookURL        string            `json:"webhookUrl,omitempty"`
	FailureWebhookURL string            `json:"failureWebhookUrl,omitempty"`
	Retries           int               `json:"retries"`
	Timeout           float64           `json:"timeout"` // seconds per attempt
	// OrderingKey and FlowControl put each firing's task under a key, as
	// WithOrderingKey and WithFlowControl do.
	OrderingKey string       `json:"orderingKey,omitempty"`
	FlowControl *FlowControl `json:"flowControl,omitempty"`
}

// Schedule is a schedule as the API shows it. Its tasks carry its ID in
// Task.ScheduleID and their firing time in Task.FiringAt.
type Schedule struct {
	ID string `json:"id"`
	ScheduleTiming
	Task      ScheduleTask   `json:"task"`
	Status    ScheduleStatus `json:"status"`
	CreatedAt time.Time      `json:"createdAt"`
	UpdatedAt time.Time      `json:"updatedAt"`
	// NextFiringAt is when it fires next; nil while paused (or while a
	// firing is being handled).
	NextFiringAt *time.Time `json:"nextFiringAt,omitempty"`
	// LastFiring is the latest firing handled, when the server reports it
	// (nil before the first).
	LastFiring *ScheduleFiring `json:"lastFiring,omitempty"`
}

// ScheduleFiring is what one firing of a schedule came to: the task it
// made, or why it made none (Skipped: the tenant's monthly quota was
// spent, or the tenant suspended).
type ScheduleFiring struct {
	At      time.Time `json:"at"`
	TaskID  string    `json:"taskId,omitempty"`
	Skipped string    `json:"skipped,omitempty"`
}

// scheduleWire is a schedule's JSON: the timing as its three members.
type scheduleWire struct {
	ID           string          `json:"id"`
	Cron         string          `json:"cron,omitempty"`
	Timezone     string          `json:"timezone,omitempty"`
	Every        string          `json:"every,omitempty"`
	Task         ScheduleTask    `json:"task"`
	Status       ScheduleStatus  `json:"status"`
	CreatedAt    time.Time       `json:"createdAt"`
	UpdatedAt    time.Time       `json:"updatedAt"`
	NextFiringAt *time.Time      `json:"nextFiringAt,omitempty"`
	LastFiring   *ScheduleFiring `json:"lastFiring,omitempty"`
}

// UnmarshalJSON reads a schedule as the API writes it.
func (s *Schedule) UnmarshalJSON(data []byte) error {
	var w scheduleWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = Schedule{ID: w.ID, ScheduleTiming: ScheduleTiming{Cron: w.Cron, Timezone: w.Timezone}, Task: w.Task,
		Status: w.Status, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, NextFiringAt: w.NextFiringAt, LastFiring: w.LastFiring}
	if w.Every != "" {
		d, err := time.ParseDuration(w.Every)
		if err != nil {
			return fmt.Errorf("client: schedule every %q: %w", w.Every, err)
		}
		s.Every = d
	}
	return nil
}

// MarshalJSON writes a schedule as the API does (for --json output).
func (s Schedule) MarshalJSON() ([]byte, error) {
	w := scheduleWire{ID: s.ID, Cron: s.Cron, Timezone: s.Timezone, Task: s.Task, Status: s.Status,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, NextFiringAt: s.NextFiringAt, LastFiring: s.LastFiring}
	if s.Every > 0 {
		w.Every = s.Every.String()
	}
	return json.Marshal(w)
}

// scheduleRequest is the body of POST /v1/schedules and PATCH
// /v1/schedules/{id}.
type scheduleRequest struct {
	Cron     *string `json:"cron,omitempty"`
	Timezone *string `json:"timezone,omitempty"`
	Every    *string `json:"every,omitempty"`
	// Task is a *createRequest in a create, a merge patch
	// (templatePatch) in a change; nil leaves it out.
	Task any `json:"task,omitempty"`
}

// setTiming puts the timing in the body. A cron timing always names its
// time zone (empty for UTC), so that a change from a zoned pattern to a
// UTC one does not keep the old zone.
func (r *scheduleRequest) setTiming(t ScheduleTiming) {
	if t.Every != 0 {
		every := t.Every.String()
		r.Every = &every
	}
	if t.Cron != "" || t.Every == 0 {
		r.Cron, r.Timezone = &t.Cron, &t.Timezone
	}
}

// template builds a task template from a target and create options. An
// idempotency key has no place in a template: each firing has its own.
func template(targetURL string, opts []CreateOption) (*createRequest, error) {
	req := createRequest{TargetURL: targetURL}
	for _, o := range opts {
		o(&req)
	}
	if req.err != nil {
		return nil, req.err
	}
	if req.idempotencyKey != "" {
		return nil, errors.New("client: a schedule's task takes no idempotency key: each firing has its own")
	}
	return &req, nil
}

// CreateSchedule creates an active schedule that, at each time timing
// names, creates a task calling targetURL as opts say (the options of
// CreateTask, but a delay, a start time or an idempotency key: each firing
// sets its own). A timing or template the server refuses is a problem of
// kind KindValidation naming the field (cron, timezone, every, task.…).
func (c *Client) CreateSchedule(ctx context.Context, timing ScheduleTiming, targetURL string, opts ...CreateOption) (*Schedule, error) {
	task, err := template(targetURL, opts)
	if err != nil {
		return nil, err
	}
	body := scheduleRequest{Task: task}
	body.setTiming(timing)
	if timing.Cron != "" && timing.Timezone == "" {
		body.Timezone = nil
	}
	var s Schedule
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/schedules", body: &body}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ListSchedules returns every schedule of the tenant, oldest first,
// following the pages a server that pages its answer gives.
func (c *Client) ListSchedules(ctx context.Context) ([]Schedule, error) {
	var all []Schedule
	path := "/v1/schedules"
	for {
		var page struct {
			Items      []Schedule `json:"items"`
			NextCursor string     `json:"nextCursor,omitempty"`
		}
		if _, err := c.do(ctx, request{method: http.MethodGet, path: path}, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		path = "/v1/schedules?cursor=" + url.QueryEscape(page.NextCursor)
	}
}

// GetSchedule returns a schedule; an unknown one is a problem of kind
// KindNotFound.
func (c *Client) GetSchedule(ctx context.Context, id string) (*Schedule, error) {
	return c.scheduleCall(ctx, http.MethodGet, id, "", nil)
}

// ScheduleTasks returns the tasks of the schedule's latest firings, latest
// first: at most limit (1 to 200; the server's default, 20, when zero).
// Older ones are in ListTasks. An unknown schedule is a problem of kind
// KindNotFound.
func (c *Client) ScheduleTasks(ctx context.Context, id string, limit int) ([]*Task, error) {
	if id == "" {
		return nil, errEmptyID
	}
	path := schedulePath(id) + "/tasks"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var list struct {
		Items []*Task `json:"items"`
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path}, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// ScheduleChange is what UpdateSchedule changes; what is left zero stays
// as it is.
type ScheduleChange struct {
	// Timing, when not nil, replaces the schedule's timing (cron replaces
	// every, and the other way round).
	Timing *ScheduleTiming
	// TargetURL, when not empty, replaces the task template by a task
	// calling it as TaskOptions say.
	TargetURL   string
	TaskOptions []CreateOption
}

// UpdateSchedule changes a schedule's timing, its task template or both;
// its next firing follows the new timing. Two changes at once on two
// nodes: one is a problem of kind KindConflict.
func (c *Client) UpdateSchedule(ctx context.Context, id string, change ScheduleChange) (*Schedule, error) {
	if id == "" {
		return nil, errEmptyID
	}
	var body scheduleRequest
	if change.Timing != nil {
		body.setTiming(*change.Timing)
	}
	if change.TargetURL != "" {
		task, err := template(change.TargetURL, change.TaskOptions)
		if err != nil {
			return nil, err
		}
		// The server merges a PATCH's task into the template: the patch
		// removes what the new template leaves out.
		patch, err := c.templatePatch(ctx, id, task)
		if err != nil {
			return nil, err
		}
		body.Task = patch
	}
	return c.scheduleCall(ctx, http.MethodPatch, id, "", &body)
}

// PauseSchedule stops a schedule's firings until ResumeSchedule; pausing
// a paused schedule changes nothing.
func (c *Client) PauseSchedule(ctx context.Context, id string) (*Schedule, error) {
	return c.scheduleCall(ctx, http.MethodPost, id, "/pause", nil)
}

// ResumeSchedule makes a paused schedule fire again from its next time
// after now; the firings it missed while paused are not made up.
func (c *Client) ResumeSchedule(ctx context.Context, id string) (*Schedule, error) {
	return c.scheduleCall(ctx, http.MethodPost, id, "/resume", nil)
}

// DeleteSchedule deletes a schedule and its pending firing; the tasks it
// made stay. An unknown schedule is a problem of kind KindNotFound.
func (c *Client) DeleteSchedule(ctx context.Context, id string) error {
	if id == "" {
		return errEmptyID
	}
	_, err := c.do(ctx, request{method: http.MethodDelete, path: schedulePath(id)}, nil)
	return err
}

// scheduleCall makes a call on schedule id (its path, then suffix) that
// answers the schedule.
func (c *Client) scheduleCall(ctx context.Context, method, id, suffix string, body any) (*Schedule, error) {
	if id == "" {
		return nil, errEmptyID
	}
	var s Schedule
	if _, err := c.do(ctx, request{method: method, path: schedulePath(id) + suffix, body: body}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func schedulePath(id string) string { return "/v1/schedules/" + url.PathEscape(id) }
