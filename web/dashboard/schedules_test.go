package dashboard_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestSchedulePages: the schedules page lists a tenant's schedules with
// their timing, state, next and last firings; the new-schedule form makes
// one (its errors shown next to their fields, nothing made without the
// CSRF token); a schedule's page lists the tasks of its firings, each of
// which links back to it; pause, resume and delete are POSTs with the
// CSRF token; another tenant sees none of it.
func TestSchedulePages(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	apiClient, creds := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(200))
	user := &visitor{t: t, base: env.URL}
	user.signIn(creds.APIKey)
	if p := user.do(http.MethodGet, "/schedules", nil); p.StatusCode != http.StatusOK || !strings.Contains(p.body, "No schedules") ||
		!strings.Contains(p.body, `href="/schedules" aria-current="page"`) {
		t.Fatalf("empty schedules page: got %d\n%s", p.StatusCode, p.body)
	}
	var daily struct{ ID string }
	apiClient.Do(t, http.MethodPost, "/v1/schedules", map[string]any{"cron": "0 9 * * mon-fri", "timezone": "Europe/Paris",
		"task": map[string]any{"targetUrl": "https://example.com/report", "orderingKey": "acct 9"}}).JSON(t, &daily)
	if p := user.do(http.MethodGet, "/schedules/"+daily.ID, nil); !strings.Contains(p.body, `href="/ordering-keys/acct%209" data-ordering-key`) {
		t.Errorf("the schedule's page does not show its template's ordering key:\n%s", p.body)
	}

	// The form: refused without the token, errors next to their fields.
	if p := user.do(http.MethodGet, "/schedules/new", nil); p.StatusCode != http.StatusOK || !strings.Contains(p.body, `action="/schedules/new"`) ||
		strings.Contains(p.body, `name="delay"`) {
		t.Fatalf("new-schedule form: got %d\n%s", p.StatusCode, p.body)
	}
	form := url.Values{"kind": {"every"}, "every": {"1s"}, "targetUrl": {target.URL + "/tick"}, "method": {"POST"}, "retries": {"0"}, "timeout": {"5"}}
	if p := user.do(http.MethodPost, "/schedules/new", form); p.StatusCode != http.StatusForbidden {
		t.Fatalf("create without the CSRF token: got %d, want 403", p.StatusCode)
	}
	bad := url.Values{"csrf": {user.csrf()}, "kind": {"every"}, "every": {"500ms"}, "targetUrl": {"ftp://x"}, "method": {"POST"}}
	if p := user.do(http.MethodPost, "/schedules/new", bad); p.StatusCode != http.StatusBadRequest ||
		!strings.Contains(p.body, `id="every-err"`) || !strings.Contains(p.body, `id="targetUrl-err"`) {
		t.Fatalf("bad form: got %d\n%s", p.StatusCode, p.body)
	}
	form.Set("csrf", user.csrf())
	p := user.do(http.MethodPost, "/schedules/new", form)
	id, ok := strings.CutPrefix(p.location(), "/schedules/")
	id, _, _ = strings.Cut(id, "?")
	if p.StatusCode != http.StatusSeeOther || !ok || !broker.ValidScheduleID(id) {
		t.Fatalf("create: got %d to %q, want a redirect to the schedule", p.StatusCode, p.location())
	}
	if p := user.do(http.MethodGet, p.location(), nil); !strings.Contains(p.body, "Schedule created.") || !strings.Contains(p.body, "every 1s") {
		t.Fatalf("the new schedule's page:\n%s", p.body)
	}

	// Its firings: on its page, latest first, each task linking back.
	fired := webtest.WaitScheduleTasks(t, apiClient, id, 2, 30*time.Second)
	p = user.do(http.MethodGet, "/schedules/"+id, nil)
	for _, task := range fired {
		if !strings.Contains(p.body, `href="/tasks/`+task.ID+`"`) {
			t.Errorf("the schedule's page does not list task %s", task.ID)
		}
	}
	if !strings.Contains(p.body, `data-last-task`) || !strings.Contains(p.body, "s-active") || !strings.Contains(p.body, `action="/schedules/`+id+`/pause"`) {
		t.Errorf("the schedule's page lacks its last firing, state or pause button:\n%s", p.body)
	}
	if p := user.do(http.MethodGet, "/tasks/"+fired[0].ID, nil); !strings.Contains(p.body, `href="/schedules/`+id+`" data-schedule`) {
		t.Errorf("the task page does not link to its schedule:\n%s", p.body)
	}
	list := user.do(http.MethodGet, "/schedules", nil).body
	for _, want := range []string{`data-schedule="` + id + `"`, `data-schedule="` + daily.ID + `"`, "0 9 * * mon-fri (Europe/Paris)", "every 1s", "data-last-task", "not yet", "POST example.com/report"} {
		if !strings.Contains(list, want) {
			t.Errorf("the schedules page lacks %q", want)
		}
	}

	// Pause, resume, delete: POSTs with the token.
	if p := user.do(http.MethodPost, "/schedules/"+id+"/pause", url.Values{}); p.StatusCode != http.StatusForbidden {
		t.Fatalf("pause without the CSRF token: got %d, want 403", p.StatusCode)
	}
	for _, step := range []struct{ action, state, button string }{{"pause", "s-paused", "resume"}, {"resume", "s-active", "pause"}} {
		p := user.do(http.MethodPost, "/schedules/"+id+"/"+step.action, url.Values{"csrf": {user.csrf()}})
		if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/schedules/"+id+"?done=") {
			t.Fatalf("%s: got %d to %q", step.action, p.StatusCode, p.location())
		}
		page := user.do(http.MethodGet, p.location(), nil).body
		if !strings.Contains(page, step.state) || !strings.Contains(page, `action="/schedules/`+id+`/`+step.button+`"`) {
			t.Fatalf("after %s: the page lacks %s or the %s button:\n%s", step.action, step.state, step.button, page)
		}
	}
	_, otherCreds := env.Tenant(t, "other")
	stranger := &visitor{t: t, base: env.URL}
	stranger.signIn(otherCreds.APIKey)
	if p := stranger.do(http.MethodGet, "/schedules/"+id, nil); p.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant's schedule page: got %d, want 404", p.StatusCode)
	}
	if p := stranger.do(http.MethodPost, "/schedules/"+id+"/delete", url.Values{"csrf": {stranger.csrf()}}); p.StatusCode != http.StatusNotFound {
		t.Errorf("another tenant deleting: got %d, want 404", p.StatusCode)
	}
	p = user.do(http.MethodPost, "/schedules/"+id+"/delete", url.Values{"csrf": {user.csrf()}})
	if p.StatusCode != http.StatusSeeOther || p.location() != "/schedules?done=deleted" {
		t.Fatalf("delete: got %d to %q", p.StatusCode, p.location())
	}
	if page := user.do(http.MethodGet, p.location(), nil).body; strings.Contains(page, `data-schedule="`+id+`"`) || !strings.Contains(page, "Schedule deleted.") {
		t.Errorf("the list after the delete:\n%s", page)
	}
	if p := user.do(http.MethodGet, "/schedules/"+id, nil); p.StatusCode != http.StatusNotFound {
		t.Errorf("a deleted schedule's page: got %d, want 404", p.StatusCode)
	}
}
