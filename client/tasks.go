package client

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// GetTask returns the task with its attempts, result and deliveries.
func (c *Client) GetTask(ctx context.Context, id string) (*Task, error) {
	return c.taskCall(ctx, http.MethodGet, id, "", nil)
}

// CancelTask cancels a task that has not finished: no further attempt is
// made, one in flight is aborted, no webhook is sent. A finished task is a
// problem of kind KindTaskFinished; a canceled one is returned as it is.
func (c *Client) CancelTask(ctx context.Context, id string) (*Task, error) {
	return c.taskCall(ctx, http.MethodDelete, id, "", nil)
}

// RedeliverTask sends a finished task's webhook again, with the same
// webhook-id; before the task has finished it is a problem of kind
// KindTaskNotFinished.
func (c *Client) RedeliverTask(ctx context.Context, id string) (*Task, error) {
	return c.taskCall(ctx, http.MethodPost, id, "/redeliver", nil)
}

// ReplayTask creates a new task with the request of task id (without its
// idempotency key, and running now unless it was scheduled for later). The
// new task's ReplayOf names id; id's Replays lists it.
func (c *Client) ReplayTask(ctx context.Context, id string) (*Task, error) {
	return c.taskCall(ctx, http.MethodPost, id, "/replay", nil)
}

// GetResult returns a finished task's result: the target's last response,
// or the final error. Before the task has finished it is a problem of
// kind KindTaskNotFinished.
func (c *Client) GetResult(ctx context.Context, id string) (*TaskResult, error) {
	if id == "" {
		return nil, errEmptyID
	}
	var res TaskResult
	if _, err := c.do(ctx, request{method: http.MethodGet, path: taskPath(id, "result")}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// taskCall makes a call on task id (its path, then suffix) that answers
// the task, keeping its ETag.
func (c *Client) taskCall(ctx context.Context, method, id, suffix string, header http.Header) (*Task, error) {
	if id == "" {
		return nil, errEmptyID
	}
	var task Task
	resp, err := c.do(ctx, request{method: method, path: taskPath(id) + suffix, header: header}, &task)
	if err != nil {
		return nil, err
	}
	task.ETag = resp.Header.Get("ETag")
	return &task, nil
}

// WaitOption changes what WaitTask waits for.
type WaitOption func(*waitConfig)

type waitConfig struct {
	until func(*Task) bool
	poll  time.Duration
}

// UntilSettled makes WaitTask wait until the task's webhook, if it has
// one, has been delivered or dead-lettered too (Task.Settled).
func UntilSettled() WaitOption {
	return func(w *waitConfig) { w.until = (*Task).Settled }
}

// Until makes WaitTask wait until cond holds for the task.
func Until(cond func(*Task) bool) WaitOption { return func(w *waitConfig) { w.until = cond } }

// PollFor sets how long each long-poll may wait on the server (30 s by
// default; the server allows at most 60 s).
func PollFor(d time.Duration) WaitOption { return func(w *waitConfig) { w.poll = d } }

// WaitTask waits until the task has finished (or what opts say), long-
// polling so that it learns of each change at once, and returns it. It
// returns ctx's error, with the task as last seen, when ctx ends first.
// While the server holds too many streams open (429) or is catching up
// (503) it waits as the answer's Retry-After says and polls again.
func (c *Client) WaitTask(ctx context.Context, id string, opts ...WaitOption) (*Task, error) {
	cfg := waitConfig{until: func(t *Task) bool { return t.Status.Finished() }, poll: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	wait := strconv.Itoa(max(int(cfg.poll/time.Second), 1)) + "s"
	task, err := c.GetTask(ctx, id)
	for {
		var p *Problem
		switch {
		case err == nil && cfg.until(task):
			return task, nil
		case errors.As(err, &p) && (p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable):
			if serr := sleep(ctx, max(p.RetryAfter, time.Second)); serr != nil {
				return task, serr
			}
		case err != nil:
			return task, err
		}
		var next *Task
		header := http.Header{}
		if task != nil && task.ETag != "" {
			header.Set("If-None-Match", task.ETag)
		}
		next, err = c.taskCall(ctx, http.MethodGet, id, "?wait="+wait, header)
		if err == nil {
			task = next
		}
	}
}

// sleep waits d, or returns ctx's error when it ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
