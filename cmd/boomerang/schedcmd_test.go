package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/client"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestCLIScheduleCommands runs the schedule commands against a node as a
// script would: create (cron with a time zone, and every), list, get,
// pause, resume and delete, each with its output and exit code.
func TestCLIScheduleCommands(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	apiClient, creds := node.tenantClient(t, "acme")
	cli := &cliEnv{t: t, env: map[string]string{"BOOMERANG_URL": node.URL(), "BOOMERANG_API_KEY": creds.APIKey}}
	schedule := func(r cliRun) client.Schedule {
		t.Helper()
		var s client.Schedule
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
			t.Fatalf("--json output is not a schedule: %v\n%s", err, r.stdout)
		}
		return s
	}

	daily := schedule(cli.must(exitOK, "schedules", "create", "https://example.com/report", "--cron", "0 9 * * mon-fri",
		"--timezone", "Europe/Paris", "--data", `{"kind":"daily"}`, "--header", "X-Team: billing", "--retries", "1", "--json"))
	var payload bytes.Buffer
	_ = json.Compact(&payload, daily.Task.Payload) // --json indents it
	if daily.Status != client.ScheduleActive || daily.Cron != "0 9 * * mon-fri" || daily.Timezone != "Europe/Paris" ||
		payload.String() != `{"kind":"daily"}` || daily.Task.Headers["X-Team"] != "billing" || daily.Task.Retries != 1 {
		t.Fatalf("create --cron: got %+v", daily)
	}
	hourly := cli.must(exitOK, "schedules", "create", "https://example.com/poll", "--every", "1h")
	if !strings.Contains(hourly.stdout, "every 1h0m0s") || !strings.Contains(hourly.stdout, "POST https://example.com/poll") {
		t.Fatalf("create --every: got\n%s", hourly.stdout)
	}
	list := cli.must(exitOK, "schedules", "list").stdout
	if !strings.HasPrefix(list, "ID ") || !strings.Contains(list, daily.ID) || !strings.Contains(list, "0 9 * * mon-fri (Europe/Paris)") ||
		!strings.Contains(list, "every 1h0m0s") {
		t.Fatalf("list: got\n%s", list)
	}
	var listed []client.Schedule
	if err := json.Unmarshal([]byte(cli.must(exitOK, "schedules", "list", "--json").stdout), &listed); err != nil || len(listed) != 2 || listed[0].ID != daily.ID {
		t.Fatalf("list --json: got %+v (%v), want both, the daily one first", listed, err)
	}
	if got := cli.must(exitOK, "schedules", "get", daily.ID).stdout; !strings.Contains(got, "Next firing") || !strings.Contains(got, "at most 2 attempts") ||
		!strings.Contains(got, "(none yet)") {
		t.Fatalf("get: got\n%s", got)
	}

	// A schedule that fires: its tasks, latest first.
	target := testenv.NewTarget(t, webtest.Answer(200))
	ticking := schedule(cli.must(exitOK, "schedules", "create", target.URL+"/tick", "--every", "1s", "--json"))
	fired := webtest.WaitScheduleTasks(t, apiClient, ticking.ID, 2, 30*time.Second)
	if got := cli.must(exitOK, "schedules", "get", ticking.ID).stdout; !strings.Contains(got, "Latest firings") || !strings.Contains(got, fired[0].ID) {
		t.Fatalf("get of a fired schedule: got\n%s", got)
	}
	var latest []client.Task
	if err := json.Unmarshal([]byte(cli.must(exitOK, "schedules", "tasks", ticking.ID, "--limit", "1", "--json").stdout), &latest); err != nil ||
		len(latest) != 1 || latest[0].ScheduleID != ticking.ID || latest[0].FiringAt.Before(*fired[len(fired)-1].FiringAt) {
		t.Fatalf("tasks --limit 1 --json: got %+v (%v), want the latest firing's task", latest, err)
	}
	cli.must(exitOK, "schedules", "delete", ticking.ID)
	if got := cli.must(exitOK, "schedules", "pause", daily.ID).stdout; !strings.Contains(got, "paused") || !strings.Contains(got, "- (paused)") {
		t.Fatalf("pause: got\n%s", got)
	}
	if got := schedule(cli.must(exitOK, "schedules", "resume", daily.ID, "--json")); got.Status != client.ScheduleActive || got.NextFiringAt == nil {
		t.Fatalf("resume: got %+v", got)
	}
	if got := cli.must(exitOK, "schedules", "delete", daily.ID).stdout; !strings.Contains(got, "deleted") {
		t.Fatalf("delete: got %q", got)
	}
	if r := cli.must(exitAPI, "schedules", "get", daily.ID); !strings.Contains(r.stderr, "404") {
		t.Fatalf("get after delete: stderr %q, want the 404", r.stderr)
	}
	if r := cli.must(exitAPI, "schedules", "create", "https://example.com/x", "--every", "500ms"); !strings.Contains(r.stderr, "every") {
		t.Fatalf("a too short interval: stderr %q, want the field named", r.stderr)
	}
	for _, args := range [][]string{{"schedules"}, {"schedules", "frob"}, {"schedules", "get"}, {"schedules", "create", "https://example.com/x"},
		{"schedules", "create", "https://example.com/x", "--cron", "@daily", "--every", "1m"}, {"schedules", "pause", "a", "b"}} {
		cli.must(exitUsage, args...)
	}
}
