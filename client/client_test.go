package client_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/client"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestCreateWaitResultReplay: a task made with every option reaches its
// target as asked, fails once and succeeds; WaitTask returns it settled,
// GetResult its answer; a repeat of its idempotent create returns it; a
// replay makes a second call and the two name each other.
func TestCreateWaitResultReplay(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	_, creds := env.Tenant(t, "acme")
	c := newClient(t, env, creds.APIKey)
	target := testenv.NewTarget(t, webtest.Answer(503, 200))
	hook := testenv.NewReceiver(t, creds.SigningSecret)
	ctx := testContext(t)
	opts := []client.CreateOption{client.WithMethod("PUT"), client.WithHeader("X-Order", "7"),
		client.WithPayload(map[string]any{"a": 1}), client.WithWebhook(hook.URL), client.WithRetries(2),
		client.WithTimeout(5 * time.Second), client.WithIdempotencyKey("order-7")}
	task, err := c.CreateTask(ctx, target.URL+"/x", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if task.Status != client.StatusPending || task.StatusToken == "" || task.IdempotentReplayed || task.Retries != 2 || task.Timeout != 5 {
		t.Fatalf("created: got %+v", task)
	}
	again, err := c.CreateTask(ctx, target.URL+"/x", opts...)
	if err != nil || again.ID != task.ID || !again.IdempotentReplayed {
		t.Fatalf("idempotent repeat: got %+v, %v; want the same task, replayed", again, err)
	}
	done, err := c.WaitTask(ctx, task.ID, client.UntilSettled(), client.PollFor(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != client.StatusSucceeded || done.AttemptCount != 2 || done.Webhook.Status != client.WebhookDelivered {
		t.Fatalf("settled: got %s after %d attempts, webhook %+v", done.Status, done.AttemptCount, done.Webhook)
	}
	calls := target.Calls()
	if len(calls) != 2 || calls[0].Method != "PUT" || calls[0].Header.Get("X-Order") != "7" || string(calls[0].Body) != `{"a":1}` {
		t.Fatalf("the target's calls: %+v", calls)
	}
	res, err := c.GetResult(ctx, task.ID)
	if err != nil || res.StatusCode != 200 || res.Status != client.StatusSucceeded {
		t.Fatalf("result: got %+v, %v", res, err)
	}
	replay, err := c.ReplayTask(ctx, task.ID)
	if err != nil || replay.ReplayOf != task.ID || replay.ID == task.ID {
		t.Fatalf("replay: got %+v, %v", replay, err)
	}
	if _, err := c.WaitTask(ctx, replay.ID); err != nil {
		t.Fatal(err)
	}
	orig, err := c.GetTask(ctx, task.ID)
	if err != nil || !slices.Equal(orig.Replays, []string{replay.ID}) || orig.ETag == "" {
		t.Fatalf("the original after the replay: got %+v, %v", orig, err)
	}
	if n := len(target.CallsFor(replay.ID)); n != 2 { // 503, then 200, as for the original
		t.Fatalf("the target got %d calls of the replay, want 2", n)
	}
}

// TestProblemsAreTyped: every error answer is a *Problem that errors.As
// finds, with its kind, status, fields and the scope a key lacks.
func TestProblemsAreTyped(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "acme")
	c := newClient(t, env, creds.APIKey)
	ctx := testContext(t)
	task, err := c.CreateTask(ctx, "http://127.0.0.1:1/", client.WithDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	reader, err := c.CreateKey(ctx, "reader", client.ScopeTasksRead)
	if err != nil {
		t.Fatal(err)
	}
	rc := newClient(t, env, reader.APIKey)
	_, notFound := c.GetTask(ctx, "tsk_unknown")
	_, invalid := c.CreateTask(ctx, "http://127.0.0.1:1/", client.WithRetries(99))
	_, early := c.RedeliverTask(ctx, task.ID)
	_, scope := rc.CancelTask(ctx, task.ID)
	_, unauthorized := newClient(t, env, "bk_nope").ListKeys(ctx)
	for _, tt := range []struct {
		name   string
		err    error
		kind   string
		status int
	}{
		{"unknown task", notFound, client.KindNotFound, 404},
		{"bad retries", invalid, client.KindValidation, 400},
		{"early redelivery", early, client.KindTaskNotFinished, 409},
		{"missing scope", scope, client.KindInsufficientScope, 403},
		{"bad key", unauthorized, client.KindUnauthorized, 401},
	} {
		var p *client.Problem
		if !errors.As(tt.err, &p) || p.Kind() != tt.kind || p.Status != tt.status || !client.IsKind(tt.err, tt.kind) {
			t.Errorf("%s: got %v, want a %d %s problem", tt.name, tt.err, tt.status, tt.kind)
		}
	}
	var p *client.Problem
	if errors.As(invalid, &p); len(p.Errors) != 1 || p.Errors[0].Field != "retries" {
		t.Errorf("bad retries: fields %+v, want retries", p.Errors)
	}
	if errors.As(scope, &p); p.Scope != "tasks:write" {
		t.Errorf("missing scope: got scope %q, want tasks:write", p.Scope)
	}
	if _, err := client.New("localhost:8080", "k"); err == nil {
		t.Error("a server URL without a scheme was accepted")
	}
	if _, err := c.GetTask(ctx, ""); err == nil {
		t.Error("an empty id was sent")
	}
}

// TestListTasksIterates: ListTasks yields every selected task, newest
// first, over several pages; stopping the loop stops the requests; a bad
// filter is yielded as a problem.
func TestListTasksIterates(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "acme")
	var requests atomic.Int32
	hc := &http.Client{Transport: countRequests(&requests, &testenv.ContractTransport{TB: t, Contract: webtest.Contract(t)})}
	c, _ := client.New(env.URL, creds.APIKey, client.WithHTTPClient(hc))
	ctx := testContext(t)
	var want []string
	for range 5 {
		task, err := c.CreateTask(ctx, "http://127.0.0.1:1/", client.WithDelay(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{task.ID}, want...)
	}
	requests.Store(0)
	var got []string
	for task, err := range c.ListTasks(ctx, client.ListOptions{PageSize: 2, Filter: client.Filter{Status: client.StatusPending}}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, task.ID)
	}
	if !slices.Equal(got, want) || requests.Load() != 3 {
		t.Fatalf("got %v in %d requests, want %v in 3", got, requests.Load(), want)
	}
	requests.Store(0)
	for range c.ListTasks(ctx, client.ListOptions{PageSize: 2}) {
		break
	}
	if requests.Load() != 1 {
		t.Fatalf("a loop that stops at once made %d requests, want 1", requests.Load())
	}
	for _, err := range c.ListTasks(ctx, client.ListOptions{Filter: client.Filter{Status: "done"}}) {
		if !client.IsKind(err, client.KindValidation) {
			t.Fatalf("bad status: got %v, want a validation problem", err)
		}
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func countRequests(n *atomic.Int32, next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		n.Add(1)
		return next.RoundTrip(r)
	})
}

// cutAfterFirstEvent is a transport whose first event stream breaks off
// (an unexpected EOF) right after its first event, as a dropped
// connection does.
func cutAfterFirstEvent(next http.RoundTripper) http.RoundTripper {
	var cut atomic.Bool
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := next.RoundTrip(r)
		if err != nil || !strings.HasSuffix(r.URL.Path, "/events") || cut.Swap(true) {
			return resp, err
		}
		pr, pw := io.Pipe()
		body := resp.Body
		go func() {
			defer body.Close()
			sc := bufio.NewScanner(body)
			for sc.Scan() {
				if _, err := io.WriteString(pw, sc.Text()+"\n"); err != nil {
					return
				}
				if sc.Text() == "" {
					pw.CloseWithError(io.ErrUnexpectedEOF)
					return
				}
			}
			pw.Close()
		}()
		resp.Body = pr
		return resp, nil
	})
}

// TestTaskEventsResumeAfterADroppedConnection: a stream cut after its
// first event is reopened with Last-Event-ID and goes on with the next:
// every event once, in order, to the end of the task; After starts
// later; a stopped loop stops.
func TestTaskEventsResumeAfterADroppedConnection(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	_, creds := env.Tenant(t, "acme")
	var requests atomic.Int32
	hc := &http.Client{Transport: countRequests(&requests, cutAfterFirstEvent(&testenv.ContractTransport{TB: t, Contract: webtest.Contract(t)}))}
	c, _ := client.New(env.URL, creds.APIKey, client.WithHTTPClient(hc))
	ctx := testContext(t)
	target := testenv.NewTarget(t, webtest.Answer(500, 200))
	hook := testenv.NewReceiver(t, creds.SigningSecret)
	task, err := c.CreateTask(ctx, target.URL, client.WithWebhook(hook.URL))
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	var types []string
	for e, err := range c.TaskEvents(ctx, task.ID) {
		if err != nil {
			t.Fatal(err)
		}
		seqs, types = append(seqs, e.Seq), append(types, e.Type)
	}
	want := []string{"created", "started", "attempt", "started", "succeeded", "delivered"}
	if !slices.Equal(types, want) || !slices.IsSorted(seqs) || requests.Load() < 3 {
		t.Fatalf("events: got %v (seqs %v) in %d requests, want %v over a reconnect", types, seqs, requests.Load(), want)
	}
	var later []string
	for e, err := range newClient(t, env, creds.APIKey).TaskEvents(ctx, task.ID, client.After(seqs[3])) {
		if err != nil {
			t.Fatal(err)
		}
		later = append(later, e.Type)
	}
	if !slices.Equal(later, want[4:]) {
		t.Fatalf("after event 4: got %v, want %v", later, want[4:])
	}
	for _, err := range c.TaskEvents(ctx, "tsk_unknown") {
		if !client.IsKind(err, client.KindNotFound) {
			t.Fatalf("an unknown task's events: got %v, want not-found", err)
		}
	}
}

// TestTenantEventsFollowEveryTask: TenantEvents yields the changes of all
// the tenant's tasks, from the event After names on, as they happen;
// cancelling its context ends it with the context's error.
func TestTenantEventsFollowEveryTask(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	_, creds := env.Tenant(t, "acme")
	c := newClient(t, env, creds.APIKey)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	first, err := c.CreateTask(ctx, "http://127.0.0.1:1/", client.WithDelay(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var second *client.Task
	var seen []string
	for e, err := range c.TenantEvents(ctx, client.After(0)) {
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want the context's end", err)
			}
			break
		}
		seen = append(seen, e.TaskID+" "+e.Type)
		if len(seen) == 1 { // the stream is open: make a change it must show
			if second, err = c.CreateTask(ctx, "http://127.0.0.1:1/", client.WithDelay(time.Hour)); err != nil {
				t.Fatal(err)
			}
		} else {
			cancel()
		}
	}
	if want := []string{first.ID + " created", second.ID + " created"}; !slices.Equal(seen, want) {
		t.Fatalf("got %v, want %v", seen, want)
	}
}
