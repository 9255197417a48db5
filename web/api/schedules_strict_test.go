package api_test

import (
	"net/http"
	"testing"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestScheduleEveryShownCompactly: every is shown without zero units,
// in a form that reads back as the same interval.
func TestScheduleEveryShownCompactly(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	c, _ := env.Tenant(t, "acme")
	for given, want := range map[string]string{"60m": "1h", "90s": "1m30s", "15m": "15m", "90m": "1h30m", "3600s": "1h"} {
		var sc scheduleJSON
		r := c.Do(t, http.MethodPost, "/v1/schedules", map[string]any{"every": given, "task": map[string]any{"targetUrl": "https://example.com/x"}})
		r.JSON(t, &sc)
		if r.Status != http.StatusCreated || sc.Every != want {
			t.Errorf("every %q: got %d %s, want every %q", given, r.Status, r.Body, want)
			continue
		}
		var got scheduleJSON
		c.Do(t, http.MethodGet, "/v1/schedules/"+sc.ID, nil).JSON(t, &got)
		if got.Every != want {
			t.Errorf("every %q: GET shows %q, want %q", given, got.Every, want)
		}
	}
}
