package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/client"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// cliRun is one run of an API command: its exit code and output.
type cliRun struct {
	code           int
	stdout, stderr string
}

// cliEnv runs the API commands against a node, with BOOMERANG_URL and
// BOOMERANG_API_KEY set as env says, every exchange checked against
// docs/openapi.yaml.
type cliEnv struct {
	t   *testing.T
	env map[string]string
}

func (e *cliEnv) run(args ...string) cliRun {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	c := &apiCLI{getenv: func(k string) string { return e.env[k] }, stdout: &stdout, stderr: &stderr,
		httpClient: &http.Client{Transport: &testenv.ContractTransport{TB: e.t, Contract: apiContract}}}
	code := c.run(ctx, args)
	return cliRun{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// must runs a command that must exit with code.
func (e *cliEnv) must(code int, args ...string) cliRun {
	e.t.Helper()
	r := e.run(args...)
	if r.code != code {
		e.t.Fatalf("boomerang %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

func (r cliRun) task(t *testing.T) client.Task {
	t.Helper()
	var task client.Task
	if err := json.Unmarshal([]byte(r.stdout), &task); err != nil {
		t.Fatalf("--json output is not a task: %v\n%s", err, r.stdout)
	}
	return task
}

// TestCLITaskCommands runs the task commands against a node the way a
// shell script would: create, wait, replay, get, list, tail, cancel, each
// with the exit code it documents, reading BOOMERANG_URL and
// BOOMERANG_API_KEY, flags overriding them.
func TestCLITaskCommands(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--running-after", "0") // every attempt shows as started: the events are known
	_, creds := node.tenantClient(t, "acme")
	cli := &cliEnv{t: t, env: map[string]string{"BOOMERANG_URL": node.URL(), "BOOMERANG_API_KEY": creds.APIKey}}
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if strings.HasSuffix(r.URL.Path, "/missing") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		webtest.Answer(503, 200)(w, r, n)
	})
	hook := testenv.NewReceiver(t, creds.SigningSecret)

	created := cli.must(exitOK, "task", "create", target.URL+"/report", "--data", `{"month":"2026-01"}`, "--header", "X-Team: billing",
		"--webhook", hook.URL, "--retries", "2", "--timeout", "5s", "--json").task(t)
	waited := cli.must(exitOK, "task", "wait", created.ID, "--settled")
	if !strings.Contains(waited.stdout, "succeeded") || !strings.Contains(waited.stdout, "#1 retry, HTTP 503") {
		t.Fatalf("wait: got\n%s", waited.stdout)
	}
	replay := cli.must(exitOK, "task", "replay", created.ID, "--wait", "--json").task(t)
	if replay.ReplayOf != created.ID || replay.Status != client.StatusSucceeded {
		t.Fatalf("replay: got %+v", replay)
	}
	if calls := target.CallsFor(replay.ID); len(calls) != 2 || string(calls[1].Body) != `{"month":"2026-01"}` || calls[1].Header.Get("X-Team") != "billing" {
		t.Fatalf("the replay's calls: %+v", calls)
	}
	if got := cli.must(exitOK, "task", "get", created.ID).stdout; !strings.Contains(got, "Replays") || !strings.Contains(got, replay.ID) {
		t.Fatalf("get: got\n%s", got)
	}
	list := cli.must(exitOK, "task", "list", "--status", "succeeded")
	if !strings.Contains(list.stdout, created.ID) || !strings.Contains(list.stdout, replay.ID) || !strings.HasPrefix(list.stdout, "ID ") {
		t.Fatalf("list: got\n%s", list.stdout)
	}
	var listed []client.Task
	if err := json.Unmarshal([]byte(cli.must(exitOK, "task", "list", "--json", "--limit", "1").stdout), &listed); err != nil || len(listed) != 1 || listed[0].ID != replay.ID {
		t.Fatalf("list --json --limit 1: got %+v (%v), want the replay", listed, err)
	}
	var types []string
	for line := range strings.Lines(cli.must(exitOK, "task", "tail", created.ID, "--json").stdout) {
		var e client.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("tail --json: %q is not an event", line)
		}
		types = append(types, e.Type)
	}
	if strings.Join(types, ",") != "created,started,attempt,started,succeeded,delivered" {
		t.Fatalf("tail: got %v", types)
	}

	// Exit codes scripts branch on.
	cli.must(exitTaskFailed, "task", "create", target.URL+"/missing", "--wait")
	later := cli.must(exitOK, "task", "create", target.URL+"/later", "--delay", "1h", "--json").task(t)
	cli.must(exitWaitTimeout, "task", "wait", later.ID, "--timeout", "200ms")
	if got := cli.must(exitOK, "task", "cancel", later.ID, "--json").task(t); got.Status != client.StatusCanceled {
		t.Fatalf("cancel: got %s", got.Status)
	}
	cli.must(exitTaskFailed, "task", "wait", later.ID)
	if r := cli.must(exitAPI, "task", "cancel", created.ID); !strings.Contains(r.stderr, "409") {
		t.Fatalf("cancel of a finished task: stderr %q, want the 409", r.stderr)
	}
	cli.must(exitAPI, "task", "get", "tsk_unknown")
	cli.must(exitAPI, "task", "get", created.ID, "--api-key", "bk_wrong") // the flag wins over the environment
	cli.must(exitUnreachable, "task", "get", created.ID, "--url", "http://127.0.0.1:1")
	for _, args := range [][]string{{"task"}, {"task", "frob"}, {"task", "get"}, {"task", "get", "a", "b"}, {"task", "list", "--bogus"},
		{"task", "create", target.URL, "--data", "{not json"}, {"task", "redeliver"}, {"task", "list", "--created-after", "today"}} {
		cli.must(exitUsage, args...)
	}
	noKey := &cliEnv{t: t, env: map[string]string{"BOOMERANG_URL": node.URL()}}
	if r := noKey.must(exitUsage, "task", "list"); !strings.Contains(r.stderr, "BOOMERANG_API_KEY") {
		t.Fatalf("without a key: stderr %q", r.stderr)
	}
}

// TestCLIKeysAndRedelivery: key create, list and revoke, a scoped key
// refused what it may not do, and redelivery of one task or of every dead
// letter, with a dry run first.
func TestCLIKeysAndRedelivery(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	_, creds := node.tenantClient(t, "acme")
	cli := &cliEnv{t: t, env: map[string]string{"BOOMERANG_URL": node.URL(), "BOOMERANG_API_KEY": creds.APIKey}}
	var key client.NewKey
	if err := json.Unmarshal([]byte(cli.must(exitOK, "key", "create", "ci", "--scope", "tasks:read", "--json").stdout), &key); err != nil || key.APIKey == "" {
		t.Fatalf("key create: %+v (%v)", key, err)
	}
	if got := cli.must(exitOK, "key", "list").stdout; !strings.Contains(got, key.ID) || !strings.Contains(got, "tasks:read") || !strings.Contains(got, "all") {
		t.Fatalf("key list: got\n%s", got)
	}
	reader := &cliEnv{t: t, env: map[string]string{"BOOMERANG_URL": node.URL(), "BOOMERANG_API_KEY": key.APIKey}}
	reader.must(exitOK, "task", "list")
	if r := reader.must(exitAPI, "task", "create", "https://example.com/"); !strings.Contains(r.stderr, "tasks:write") {
		t.Fatalf("a read-only key creating: stderr %q, want the scope named", r.stderr)
	}
	cli.must(exitOK, "key", "revoke", key.ID)
	reader.must(exitAPI, "task", "list")
	cli.must(exitUsage, "key", "create")

	hook := testenv.NewReceiver(t, creds.SigningSecret)
	hook.Answer(http.StatusInternalServerError)
	target := testenv.NewTarget(t, webtest.Answer(200))
	dead := cli.must(exitOK, "task", "create", target.URL, "--webhook", hook.URL, "--json").task(t)
	cli.must(exitOK, "task", "wait", dead.ID, "--settled")
	if r := cli.must(exitOK, "task", "redeliver", "--all", "--webhook", "dead", "--dry-run"); !strings.Contains(r.stdout, "Would redeliver 1 ") {
		t.Fatalf("dry run: got %q", r.stdout)
	}
	before := len(hook.For(dead.ID))
	var res client.RedeliverResult
	if err := json.Unmarshal([]byte(cli.must(exitOK, "task", "redeliver", "--all", "--webhook", "dead", "--json").stdout), &res); err != nil || res.Redelivered != 1 {
		t.Fatalf("redeliver --all: got %+v (%v)", res, err)
	}
	hook.WaitFor(t, dead.ID, before+1, 30*time.Second)
	cli.must(exitOK, "task", "wait", dead.ID, "--settled")
	if r := cli.must(exitOK, "task", "redeliver", dead.ID); !strings.Contains(r.stdout, "msg_"+dead.ID) {
		t.Fatalf("redeliver one: got %q", r.stdout)
	}
	cli.must(exitUsage, "task", "redeliver", dead.ID, "--all")
}

// TestCLITailFollowsTheTenantLive: `task tail` without an id prints each
// change of any of the tenant's tasks as it happens, from after the event
// --after names, until interrupted (exit 0).
func TestCLITailFollowsTheTenantLive(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	apiClient, creds := node.tenantClient(t, "acme")
	// Before the tail: a task made (event 1) and canceled (event 2).
	first := createTask(t, apiClient, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	if r := apiClient.Do(t, http.MethodDelete, "/v1/tasks/"+first.ID, nil); r.Status != http.StatusOK {
		t.Fatalf("cancel: got %d", r.Status)
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	c := &apiCLI{getenv: func(string) string { return "" }, stdout: pw, stderr: &stderr}
	done := make(chan int, 1)
	go func() {
		done <- c.run(ctx, []string{"task", "tail", "--url", node.URL(), "--api-key", creds.APIKey, "--after", "1"})
		pw.Close()
	}()
	var got []string
	second := ""
	for lines := bufio.NewScanner(pr); lines.Scan(); {
		fields := strings.Fields(lines.Text())
		got = append(got, fields[3]+" "+fields[4])
		if second == "" {
			// The stream is open: a task made now must show.
			second = createTask(t, apiClient, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600}).ID
		} else {
			cancel()
		}
	}
	if code := <-done; code != exitOK {
		t.Fatalf("tail: exit %d (%s)", code, stderr.String())
	}
	if want := []string{first.ID + " canceled", second + " created"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("tail: got %v, want %v", got, want)
	}
}

// TestCLICreatesUnderAKey: task create puts a task under an ordering key
// or a flow-control key, and refuses flow flags without a key.
func TestCLICreatesUnderAKey(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	_, creds := node.tenantClient(t, "acme")
	cli := &cliEnv{t: t, env: map[string]string{"BOOMERANG_URL": node.URL(), "BOOMERANG_API_KEY": creds.APIKey}}
	ordered := cli.must(exitOK, "task", "create", "https://example.com/a", "--delay", "1h", "--ordering-key", "customer-7", "--json").task(t)
	if ordered.OrderingKey != "customer-7" || ordered.FlowControl != nil {
		t.Errorf("--ordering-key: task has %q, %+v", ordered.OrderingKey, ordered.FlowControl)
	}
	flowed := cli.must(exitOK, "task", "create", "https://example.com/b", "--delay", "1h",
		"--flow-key", "api.example.com", "--flow-rate", "5", "--flow-period", "1m", "--flow-parallelism", "2", "--json").task(t)
	if fc := flowed.FlowControl; fc == nil || fc.Key != "api.example.com" || fc.Rate != 5 || fc.Period != "1m0s" && fc.Period != "1m" || fc.Parallelism != 2 {
		t.Errorf("--flow-*: task has %+v", fc)
	}
	cli.must(exitUsage, "task", "create", "https://example.com/c", "--flow-rate", "5")
	if r := cli.must(exitAPI, "task", "create", "https://example.com/d", "--ordering-key", "k", "--flow-key", "f", "--flow-rate", "1"); !strings.Contains(r.stderr, "flowControl") {
		t.Errorf("both keys: stderr %q, want the field named", r.stderr)
	}
}
