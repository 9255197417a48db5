package dashboard_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

var nextFiring = regexp.MustCompile(`<td data-label="Next firing"><time [^>]*>([^<]*)</time>`)

// TestSchedulesSayWhenAFiringIsDue: the schedules page and a schedule's
// page say when the next firing comes ("in 1m"), "now" within a second of
// it either way, and "due … ago" once it has passed (while its task is
// being made), never "in now" or "in 5s" for a time gone by. The server's
// clock is moved; the schedule fires hourly on the real clock, too late to
// matter.
func TestSchedulesSayWhenAFiringIsDue(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{Now: clock.Now, TokensNow: time.Now})
	apiClient, creds := env.Tenant(t, "acme")
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	var sc struct {
		ID           string
		NextFiringAt *time.Time
	}
	apiClient.Do(t, http.MethodPost, "/v1/schedules", map[string]any{"every": "1h",
		"task": map[string]any{"targetUrl": "https://example.com/report"}}).JSON(t, &sc)
	if sc.NextFiringAt == nil {
		t.Fatal("the new schedule has no next firing")
	}
	for _, step := range []struct {
		at   time.Duration // from the next firing
		want string
	}{
		{-90 * time.Second, "in 1m"},
		{-1500 * time.Millisecond, "in 1s"},
		{-300 * time.Millisecond, "now"},
		{300 * time.Millisecond, "now"},
		{5 * time.Second, "due 5s ago"},
	} {
		clock.Advance(sc.NextFiringAt.Add(step.at).Sub(clock.Now()))
		body := user.do(http.MethodGet, "/schedules", nil).body
		got := "(none)"
		if m := nextFiring.FindStringSubmatch(body); m != nil {
			got = m[1]
		}
		if got != step.want {
			t.Errorf("%v from the firing: the list's next firing reads %q, want %q", step.at, got, step.want)
		}
		if page := user.do(http.MethodGet, "/schedules/"+sc.ID, nil).body; !strings.Contains(page, "</time> ("+step.want+")") {
			t.Errorf("%v from the firing: the schedule's page does not say (%s):\n%s", step.at, step.want, page)
		}
	}
}
