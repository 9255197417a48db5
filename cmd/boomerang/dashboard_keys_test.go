package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestDashboardKeysInChromium: in a real browser, the new-task form shows
// the API's refusal of an ordering key together with flow control next to
// the fields, then makes a task with an ordering key; that task's page
// says it is next behind the task holding the key, then, the key paused,
// says so and links to the key's page, where the key is resumed. No
// console error, no sideways scrolling on a phone.
func TestDashboardKeysInChromium(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	done := make(chan struct{})
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select { // the first task holds the key all along
		case <-done:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(done) }) // before the target closes
	base := node.URL()
	createTask(t, client, map[string]any{"targetUrl": target.URL, "orderingKey": "acct-1", "timeout": 600})
	b.signIn(t, base, creds.APIKey)

	b.do(t,
		chromedp.Navigate(base+"/tasks/new"), chromedp.WaitVisible(css("#orderingKey")),
		chromedp.SendKeys(css("#targetUrl"), target.URL+"/next"),
		chromedp.SendKeys(css("#orderingKey"), "acct-1"),
		chromedp.SendKeys(css("#flowControl-key"), "payments"),
		chromedp.SendKeys(css("#flowControl-rate"), "10"),
		chromedp.Submit(css("#targetUrl")),
		chromedp.WaitVisible(css("#flowControl-err")),
	)
	b.forgetStatus(http.StatusBadRequest) // the refused form's page
	if got := b.text(t, "#flowControl-err"); got != "give orderingKey or flowControl, not both" {
		t.Fatalf("the form's flow control error: %q", got)
	}
	b.screenshots(t, "new-task-keys")
	b.do(t,
		chromedp.Clear(css("#flowControl-key")), chromedp.Clear(css("#flowControl-rate")),
		chromedp.Submit(css("#targetUrl")),
	)
	b.waitPath(t, "/tasks/tsk_")
	b.do(t, chromedp.WaitVisible(css("[data-task-page]")))
	id := get(t, b, chromedp.AttributeValue(css("[data-task-page]"), "data-task-page")).Value
	if got := b.text(t, "a[data-ordering-key]"); got != "acct-1" {
		t.Fatalf("the form's task has ordering key %q, want acct-1", got)
	}
	state := func(want string) string {
		t.Helper()
		var text string
		testenv.WaitUntil(t, "the task page to say the key is "+want, func() (bool, string) {
			ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(css("[data-task-page]"))); err != nil {
				return false, err.Error()
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(s => s ? s.dataset.keyState + ": " + s.textContent : "none")(document.querySelector("[data-key-state]"))`))
			text = got
			return err == nil && strings.HasPrefix(got, want+": "), fmt.Sprintf("%q (%v)", got, err)
		})
		return text
	}
	if text := state("waiting"); !strings.Contains(text, "it is next; 1 in flight") {
		t.Errorf("the waiting task's page says %q", text)
	}
	b.screenshots(t, "task-key-waiting")

	client.Do(t, http.MethodPost, "/v1/ordering-keys/acct-1/pause", nil)
	if text := state("paused"); !strings.Contains(text, "is paused") {
		t.Errorf("the paused key's task page says %q", text)
	}
	b.screenshots(t, "task-key-paused")
	b.do(t, chromedp.Click(css("a[data-key-resume]")), chromedp.WaitVisible(css("button[data-resume]")),
		chromedp.Click(css("button[data-resume]")), chromedp.WaitVisible(css(".flash")))
	if flash := b.text(t, ".flash"); flash != "Resumed." {
		t.Fatalf("after resume: flash %q", flash)
	}
	b.do(t, chromedp.Navigate(base+"/tasks/"+id), chromedp.WaitVisible(css("[data-task-page]")))
	state("waiting")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
}
