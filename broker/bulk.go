package broker

import "context"

// MaxBulkRedeliver bounds the matching tasks one RedeliverMatching call
// goes through; a cursor continues after them.
const MaxBulkRedeliver = 1000

// bulkPage is how many tasks RedeliverMatching reads from the view at a
// time: a page of List.
const bulkPage = 200

// BulkResult is what RedeliverMatching did, or with a dry run would do.
type BulkResult struct {
	// Redelivered counts the tasks whose webhook is sent again (with a
	// dry run: would be).
	Redelivered int
	// Skipped counts the matching tasks with no webhook to send: not
	// finished, canceled, without a webhook URL, or past their tenant's
	// retention.
	Skipped int
	// NextCursor continues after the last task the call went through;
	// empty when no matching task is left.
	NextCursor string
}

// RedeliverMatching sends again the webhooks of the tenant's tasks that q
// selects, newest first, as Redeliver does for one task: each with the same
// webhook-id. It goes through at most q.Limit matching tasks (zero, or
// more than MaxBulkRedeliver, means MaxBulkRedeliver) from q.Cursor on,
// and returns a cursor to continue with when more match. With dryRun it
// publishes nothing and only counts. It returns once this node's view has
// applied the redeliveries (within the read wait), so that a list read
// after it sees them; on an error, the result counts what was published
// before it. Both the dashboard's "redeliver all" and the API's bulk
// redelivery come here.
func (t *Tasks) RedeliverMatching(ctx context.Context, tenantID string, q ListQuery, dryRun bool) (BulkResult, error) {
	remaining := q.Limit
	if remaining <= 0 || remaining > MaxBulkRedeliver {
		remaining = MaxBulkRedeliver
	}
	var res BulkResult
	defer t.AwaitOwnWrites(ctx) // reads after the call see the redeliveries
	for remaining > 0 {
		q.Limit = min(remaining, bulkPage)
		page, err := t.List(ctx, tenantID, q)
		if err != nil {
			return res, err
		}
		for _, task := range page.Items {
			if t.redeliverable(tenantID, task) != nil {
				res.Skipped++
				continue
			}
			if !dryRun {
				if _, err := t.pub.PublishEvent(ctx, tenantID, task.ID, KindRedeliver, redeliverEvent{At: t.now().UTC()}); err != nil {
					return res, err
				}
			}
			res.Redelivered++
		}
		remaining -= len(page.Items)
		res.NextCursor, q.Cursor = page.NextCursor, page.NextCursor
		if page.NextCursor == "" {
			break
		}
	}
	return res, nil
}
