package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// bulkRedeliverRequest is the body of POST /v1/webhooks/redeliver: the
// list's filters (taskFilter), then how much to do.
type bulkRedeliverRequest struct {
	taskFilter
	// DryRun counts what would be redelivered, and publishes nothing.
	DryRun bool `json:"dryRun"`
	// Limit bounds the matching tasks this call goes through (1 to
	// broker.MaxBulkRedeliver, the default).
	Limit *int `json:"limit"`
	// Cursor continues after the last task a previous call went through.
	Cursor string `json:"cursor"`
}

// bulkRedeliverBody is the answer of POST /v1/webhooks/redeliver.
type bulkRedeliverBody struct {
	Redelivered int    `json:"redelivered"`
	Skipped     int    `json:"skipped"`
	DryRun      bool   `json:"dryRun"`
	NextCursor  string `json:"nextCursor,omitempty"`
}

// RedeliverWebhooks handles POST /v1/webhooks/redeliver: the webhooks of
// the tenant's tasks that the filters select, newest first, sent again
// (each with the webhook-id it had, as a redelivery of one task is), at most
// limit tasks per call with a cursor to continue; with dryRun, only
// counted (200). It is the dashboard's "redeliver all" (broker's
// RedeliverMatching) with every filter of the list.
func (a *API) RedeliverWebhooks(c echo.Context) error {
	if err := checkQuery(c); err != nil {
		return err
	}
	var req bulkRedeliverRequest
	if err := a.decoder.decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	q, errs := req.query()
	q.Cursor = req.Cursor
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > broker.MaxBulkRedeliver {
			errs = append(errs, problem.FieldError{Field: "limit", Message: "must be an integer from 1 to 1000"})
		}
		q.Limit = *req.Limit
	}
	if len(errs) > 0 {
		return problem.Invalid(errs...)
	}
	res, err := a.tasks.RedeliverMatching(c.Request().Context(), Principal(c).TenantID, q, req.DryRun)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if req.DryRun {
		status = http.StatusOK
	}
	return c.JSON(status, bulkRedeliverBody{Redelivered: res.Redelivered, Skipped: res.Skipped, DryRun: req.DryRun, NextCursor: res.NextCursor})
}
