package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/api"

	"github.com/boomerang-dev/boomerang/broker"
)

type deadLettersData struct {
	Host    string
	Items   []*broker.Task
	Total   int
	NextURL string
}

// DeadLettersPage handles GET /dead-letters: webhooks that ran out of
// retries, newest first.
func (d *Dashboard) DeadLettersPage(c echo.Context) error {
	tenantID := api.Principal(c).TenantID
	host := strings.TrimSpace(c.QueryParam("host"))
	page, err := d.tasks.List(c.Request().Context(), tenantID, broker.ListQuery{Webhook: broker.WebhookDead, Host: host, Cursor: c.QueryParam("cursor"), Limit: 50})
	if err != nil {
		return err
	}
	counts, err := d.tasks.Counts(tenantID)
	if err != nil {
		return err
	}
	data := deadLettersData{Host: host, Items: page.Items, Total: counts.Webhook[broker.WebhookDead]}
	if page.NextCursor != "" {
		data.NextURL = "/dead-letters?" + url.Values{"host": {host}, "cursor": {page.NextCursor}}.Encode()
	}
	return d.render(c, http.StatusOK, "deadletters", view{Title: "Dead letters", Nav: "dead", Data: data,
		Flash: redeliveredFlash(c.QueryParam("redelivered"))})
}

// redeliveredFlash is the sentence after a redelivery, written here from
// the count alone: the link carries no text of its own to show.
func redeliveredFlash(n string) string {
	sent, err := strconv.Atoi(n)
	if err != nil || sent < 0 {
		return ""
	}
	return fmt.Sprintf("Redelivering %d webhook(s).", sent)
}

// RedeliverDeadLetters handles POST /dead-letters/redeliver: the selected
// ids, or with all=1 every dead letter matching the host filter (at most
// broker.MaxBulkRedeliver at a time, as the API's bulk redelivery, which
// goes the same way).
func (d *Dashboard) RedeliverDeadLetters(c echo.Context) error {
	tenantID := api.Principal(c).TenantID
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	if c.FormValue("all") == "1" {
		q := broker.ListQuery{Webhook: broker.WebhookDead, Host: strings.TrimSpace(c.FormValue("host"))}
		res, err := d.tasks.RedeliverMatching(ctx, tenantID, q, false)
		if err != nil {
			return err
		}
		return redelivered(c, res.Redelivered)
	}
	sent := 0
	for _, id := range form["id"] {
		if !broker.ValidToken(id) {
			continue
		}
		if _, err := d.tasks.Redeliver(ctx, tenantID, id); err == nil {
			sent++
		}
	}
	return redelivered(c, sent)
}

// redelivered sends the browser back to the dead letters, saying how many
// went.
func redelivered(c echo.Context, n int) error {
	return c.Redirect(http.StatusSeeOther, "/dead-letters?redelivered="+strconv.Itoa(n))
}
