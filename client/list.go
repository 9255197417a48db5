package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Filter selects tasks, as the dashboard's filters do: a task is selected
// when it meets every criterion given (zero values select all).
type Filter struct {
	Status  Status
	Webhook WebhookStatus // WebhookDead: the dead letters
	// Host is the target URL's host, without its port.
	Host string
	// CreatedAfter and CreatedBefore keep tasks created strictly between.
	CreatedAfter, CreatedBefore time.Time
	// IdempotencyKey selects the task that key created.
	IdempotencyKey string
}

// ListOptions selects the tasks ListTasks returns.
type ListOptions struct {
	Filter
	// PageSize is how many tasks each request asks for (1 to 200; the
	// server's default, 50, when zero).
	PageSize int
	// Cursor starts after the tasks a previous page ended with.
	Cursor string
}

// TaskPage is one page of tasks, newest first.
type TaskPage struct {
	Items []*Task `json:"items"`
	// NextCursor continues with the next page; empty on the last.
	NextCursor string `json:"nextCursor,omitempty"`
}

// values adds the filter's criteria to v.
func (f Filter) values(v url.Values) {
	for name, value := range map[string]string{"status": string(f.Status), "webhook": string(f.Webhook), "host": f.Host,
		"idempotencyKey": f.IdempotencyKey, "createdAfter": rfc3339(f.CreatedAfter), "createdBefore": rfc3339(f.CreatedBefore)} {
		if value != "" {
			v.Set(name, value)
		}
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ListPage returns one page of the tenant's tasks, newest first.
func (c *Client) ListPage(ctx context.Context, opts ListOptions) (*TaskPage, error) {
	v := url.Values{}
	opts.values(v)
	if opts.PageSize > 0 {
		v.Set("limit", strconv.Itoa(opts.PageSize))
	}
	if opts.Cursor != "" {
		v.Set("cursor", opts.Cursor)
	}
	path := "/v1/tasks"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var page TaskPage
	if _, err := c.do(ctx, request{method: http.MethodGet, path: path}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// ListTasks returns every task opts select, newest first, fetching pages
// as the loop goes on; tasks created meanwhile do not shift those yet to
// come. An error ends the sequence after it is yielded.
//
//	for task, err := range c.ListTasks(ctx, client.ListOptions{Filter: client.Filter{Webhook: client.WebhookDead}}) {
//		if err != nil { return err }
//		fmt.Println(task.ID)
//	}
func (c *Client) ListTasks(ctx context.Context, opts ListOptions) iter.Seq2[*Task, error] {
	return func(yield func(*Task, error) bool) {
		for {
			page, err := c.ListPage(ctx, opts)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, t := range page.Items {
				if !yield(t, nil) {
					return
				}
			}
			if page.NextCursor == "" {
				return
			}
			opts.Cursor = page.NextCursor
		}
	}
}
