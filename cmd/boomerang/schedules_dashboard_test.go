package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestSchedulesInChromium makes a schedule from the dashboard's form in a
// real browser, sees its firings' tasks on its page and the link back from
// a task's page, pauses it, and finds it paused in the list: no console
// error (a CSP violation among them), and no page scrolls sideways on a
// phone. Not parallel, as TestScheduleTwoNodesAndRestarts.
func TestSchedulesInChromium(t *testing.T) {
	b := newBrowser(t)
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	base := node.URL()
	b.signIn(t, base, creds.APIKey)

	b.do(t,
		chromedp.Navigate(base+"/schedules"), chromedp.WaitVisible(css("table#schedules")),
		chromedp.Click(css(`a[href="/schedules/new"].button`)), chromedp.WaitVisible(css("#every")),
		chromedp.Click(css(`input[name="kind"][value="every"]`)),
		chromedp.SendKeys(css("#every"), "1s"),
		chromedp.SendKeys(css("#targetUrl"), target.URL+"/tick"),
	)
	b.screenshots(t, "new-schedule")
	b.do(t, chromedp.Submit(css("#targetUrl")))
	b.waitPath(t, "/schedules/sch_")
	b.do(t, chromedp.WaitVisible(css("[data-schedule-page]")))
	if flash := b.text(t, ".flash"); flash != "Schedule created." {
		t.Fatalf("after the form: flash %q", flash)
	}
	id := get(t, b, chromedp.AttributeValue(css("[data-schedule-page]"), "data-schedule-page")).Value
	fired := webtest.WaitScheduleTasks(t, client, id, 2, 30*time.Second)
	b.do(t, chromedp.Reload(), chromedp.WaitVisible(css(`#firings tr[data-task="`+fired[0].ID+`"]`)))
	b.screenshots(t, "schedule")

	b.do(t, chromedp.Click(css(`#firings tr[data-task="`+fired[0].ID+`"] a`)), chromedp.WaitVisible(css("[data-task-page]")))
	if got := b.text(t, "a[data-schedule]"); got != id {
		t.Fatalf("the task page links to schedule %q, want %q", got, id)
	}
	b.do(t, chromedp.Click(css("a[data-schedule]")), chromedp.WaitVisible(css("[data-schedule-page]")),
		chromedp.Click(css(`form[action$="/pause"] button`)), chromedp.WaitVisible(css(".flash")))
	if flash := b.text(t, ".flash"); !strings.HasPrefix(flash, "Schedule paused") {
		t.Fatalf("after pause: flash %q", flash)
	}
	b.do(t, chromedp.Navigate(base+"/schedules"), chromedp.WaitVisible(css(`tr[data-schedule="`+id+`"]`)))
	if row := b.text(t, `tr[data-schedule="`+id+`"]`); !strings.Contains(row, "paused") || !strings.Contains(row, "every 1s") {
		t.Fatalf("the list's row: %q", row)
	}
	b.screenshots(t, "schedules")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
}
