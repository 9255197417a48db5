package client

import (
	"context"
	"net/http"
)

// RedeliverRequest selects the tasks whose webhooks RedeliverWebhooks
// sends again.
type RedeliverRequest struct {
	Filter
	// DryRun counts what would be sent, and sends nothing.
	DryRun bool
	// Limit bounds the matching tasks one call goes through (1 to 1000;
	// the server's maximum, 1000, when zero).
	Limit int
	// Cursor continues after the tasks a previous call went through.
	Cursor string
}

// RedeliverResult is what one RedeliverWebhooks call did.
type RedeliverResult struct {
	// Redelivered counts the webhooks sent again (with DryRun: that would
	// be).
	Redelivered int `json:"redelivered"`
	// Skipped counts matching tasks with no webhook to send: not
	// finished, canceled, or without a webhook URL.
	Skipped int  `json:"skipped"`
	DryRun  bool `json:"dryRun"`
	// NextCursor is set when more tasks match: pass it as Cursor.
	NextCursor string `json:"nextCursor,omitempty"`
}

// redeliverBody is the body of POST /v1/webhooks/redeliver.
type redeliverBody struct {
	Status         Status        `json:"status,omitempty"`
	Webhook        WebhookStatus `json:"webhook,omitempty"`
	Host           string        `json:"host,omitempty"`
	CreatedAfter   string        `json:"createdAfter,omitempty"`
	CreatedBefore  string        `json:"createdBefore,omitempty"`
	IdempotencyKey string        `json:"idempotencyKey,omitempty"`
	DryRun         bool          `json:"dryRun,omitempty"`
	Limit          int           `json:"limit,omitempty"`
	Cursor         string        `json:"cursor,omitempty"`
}

// RedeliverWebhooks sends again the webhooks of the tasks req selects
// (each with the webhook-id it had), newest first, as the dashboard's
// "redeliver all" does: at most req.Limit tasks per call, with a cursor to
// continue. Use DryRun first to count.
func (c *Client) RedeliverWebhooks(ctx context.Context, req RedeliverRequest) (*RedeliverResult, error) {
	f := req.Filter
	body := redeliverBody{Status: f.Status, Webhook: f.Webhook, Host: f.Host, CreatedAfter: rfc3339(f.CreatedAfter),
		CreatedBefore: rfc3339(f.CreatedBefore), IdempotencyKey: f.IdempotencyKey, DryRun: req.DryRun, Limit: req.Limit, Cursor: req.Cursor}
	var res RedeliverResult
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/webhooks/redeliver", body: &body}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// RedeliverAll calls RedeliverWebhooks until no matching task is left,
// and returns the sums (the last call's cursor is empty). It stops at the
// first error, returning what was done before it.
func (c *Client) RedeliverAll(ctx context.Context, req RedeliverRequest) (*RedeliverResult, error) {
	total := &RedeliverResult{DryRun: req.DryRun}
	for {
		res, err := c.RedeliverWebhooks(ctx, req)
		if err != nil {
			return total, err
		}
		total.Redelivered += res.Redelivered
		total.Skipped += res.Skipped
		if res.NextCursor == "" {
			return total, nil
		}
		req.Cursor = res.NextCursor
	}
}
