package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"time"

	"github.com/boomerang-dev/boomerang/client"
)

// apiCommands are the commands on top of the client package.
var apiCommands = map[string]apiCommand{
	"task create":    {args: "TARGET_URL", min: 1, max: 1, summary: "create a task that calls TARGET_URL", define: defineCreate},
	"task get":       {args: "ID", min: 1, max: 1, summary: "show a task, its attempts and its webhook", define: showing((*client.Client).GetTask)},
	"task wait":      {args: "ID", min: 1, max: 1, summary: "wait until a task finishes (exit 3 if it failed)", define: defineWait},
	"task cancel":    {args: "ID", min: 1, max: 1, summary: "cancel a task that has not finished", define: showing((*client.Client).CancelTask)},
	"task list":      {args: "", summary: "list tasks, newest first, filtered as the dashboard does", define: defineList},
	"task tail":      {args: "[ID]", max: 1, summary: "follow a task's events, or all your tasks' live", define: defineTail},
	"task redeliver": {args: "[ID]", max: 1, summary: "send a task's webhook again, or with --all every matching one", define: defineRedeliver},
	"task replay":    {args: "ID", min: 1, max: 1, summary: "create a new task with the same request", define: defineReplay},
	"key create":     {args: "NAME", min: 1, max: 1, summary: "create an API key (shown once)", define: defineKeyCreate},
	"key list":       {args: "", summary: "list the API keys", define: defineKeyList},
	"key revoke":     {args: "ID", min: 1, max: 1, summary: "revoke an API key", define: defineKeyRevoke},
	// schedcmd.go
	"schedules create": {args: "TARGET_URL", min: 1, max: 1, summary: "create a schedule (--cron or --every) that creates tasks calling TARGET_URL", define: defineScheduleCreate},
	"schedules list":   {args: "", summary: "list the schedules, oldest first", define: defineScheduleList},
	"schedules get":    {args: "ID", min: 1, max: 1, summary: "show a schedule and its latest tasks", define: defineScheduleGet},
	"schedules pause":  {args: "ID", min: 1, max: 1, summary: "stop a schedule's firings until resumed", define: scheduleShowing((*client.Client).PauseSchedule)},
	"schedules resume": {args: "ID", min: 1, max: 1, summary: "make a paused schedule fire again (missed firings are not made up)", define: scheduleShowing((*client.Client).ResumeSchedule)},
	"schedules tasks":  {args: "ID", min: 1, max: 1, summary: "list the tasks of a schedule's latest firings, latest first", define: defineScheduleTasks},
	"schedules delete": {args: "ID", min: 1, max: 1, summary: "delete a schedule (the tasks it made stay)", define: defineScheduleDelete},
}

// headerFlags collects repeated --header "Name: value" flags.
type headerFlags map[string]string

func (h headerFlags) String() string { return "" }

func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return errors.New(`want "Name: value"`)
	}
	h[strings.TrimSpace(name)] = strings.TrimSpace(value)
	return nil
}

// createFlags are the fields of a new task.
type createFlags struct {
	method, data, text, contentType, webhook, notBefore, idempotencyKey string
	failureWebhook, orderingKey, flowKey, flowPeriod                    string
	flowRate, flowParallelism                                           int
	headers                                                             headerFlags
	retries                                                             int
	timeout, delay                                                      time.Duration
	wait                                                                bool
}

// defineTaskFlags defines the flags of a task's request: those of task
// create that a schedule's template shares.
func defineTaskFlags(fs *flag.FlagSet) *createFlags {
	f := &createFlags{headers: headerFlags{}, retries: -1}
	fs.StringVar(&f.method, "method", "", "HTTP method of the calls (default POST)")
	fs.Var(f.headers, "header", `a header of the calls, "Name: value" (repeat it)`)
	fs.StringVar(&f.data, "data", "", "the payload, JSON (@FILE reads a file)")
	fs.StringVar(&f.text, "text", "", "a payload of text instead, sent with --content-type")
	fs.StringVar(&f.contentType, "content-type", "", "the payload's media type")
	fs.StringVar(&f.webhook, "webhook", "", "the URL the signed result is posted to")
	fs.StringVar(&f.failureWebhook, "failure-webhook", "", "the URL the signed result is posted to only if the task fails")
	fs.IntVar(&f.retries, "retries", -1, "attempts after the first (default 3)")
	fs.DurationVar(&f.timeout, "timeout", 0, "limit of one attempt (default 30s)")
	fs.StringVar(&f.orderingKey, "ordering-key", "", "run after the tasks created before it with this key, one at a time")
	fs.StringVar(&f.flowKey, "flow-key", "", "a flow-control key: the tasks with it share --flow-rate and --flow-parallelism")
	fs.IntVar(&f.flowRate, "flow-rate", 0, "calls the flow-control key starts per --flow-period")
	fs.StringVar(&f.flowPeriod, "flow-period", "", "the period of --flow-rate (default 1s)")
	fs.IntVar(&f.flowParallelism, "flow-parallelism", 0, "calls of the flow-control key in flight at once")
	return f
}

func defineCreate(fs *flag.FlagSet) runFunc {
	f := defineTaskFlags(fs)
	fs.DurationVar(&f.delay, "delay", 0, "wait before the first attempt")
	fs.StringVar(&f.notBefore, "not-before", "", "earliest time of the first attempt (RFC 3339)")
	fs.StringVar(&f.idempotencyKey, "idempotency-key", "", "makes the create safe to retry")
	fs.BoolVar(&f.wait, "wait", false, "wait until the task finishes (exit 3 if it failed)")
	return func(ctx context.Context, call *apiCall) error {
		opts, err := f.options()
		if err != nil {
			return err
		}
		task, err := call.client.CreateTask(ctx, call.args[0], opts...)
		if err != nil {
			return err
		}
		if f.wait {
			return waitAndShow(ctx, call, task.ID, nil)
		}
		return showTask(call, task)
	}
}

// options turns the flags into the client's create options.
func (f *createFlags) options() ([]client.CreateOption, error) {
	var opts []client.CreateOption
	for name, value := range f.headers {
		opts = append(opts, client.WithHeader(name, value))
	}
	switch {
	case f.data != "" && f.text != "":
		return nil, usageErr("give --data or --text, not both")
	case f.data != "":
		data := []byte(f.data)
		if path, ok := strings.CutPrefix(f.data, "@"); ok {
			var err error
			if data, err = os.ReadFile(path); err != nil {
				return nil, usageErr("--data: %v", err)
			}
		}
		if !json.Valid(data) {
			return nil, usageErr("--data is not JSON (use --text for other payloads)")
		}
		opts = append(opts, client.WithPayload(json.RawMessage(data)))
	case f.text != "":
		opts = append(opts, client.WithTextPayload(f.contentType, f.text))
	}
	if f.flowKey != "" {
		opts = append(opts, client.WithFlowControl(client.FlowControl{Key: f.flowKey, Rate: f.flowRate,
			Period: f.flowPeriod, Parallelism: f.flowParallelism}))
	} else if f.flowRate != 0 || f.flowParallelism != 0 || f.flowPeriod != "" {
		return nil, usageErr("--flow-rate, --flow-period and --flow-parallelism need --flow-key")
	}
	if f.orderingKey != "" {
		opts = append(opts, client.WithOrderingKey(f.orderingKey))
	}
	if f.notBefore != "" {
		t, err := time.Parse(time.RFC3339, f.notBefore)
		if err != nil {
			return nil, usageErr("--not-before must be an RFC 3339 time, like 2026-01-02T15:04:05Z")
		}
		opts = append(opts, client.WithNotBefore(t))
	}
	for _, o := range []struct {
		set bool
		opt client.CreateOption
	}{
		{f.method != "", client.WithMethod(f.method)}, {f.webhook != "", client.WithWebhook(f.webhook)},
		{f.failureWebhook != "", client.WithFailureWebhook(f.failureWebhook)},
		{f.retries >= 0, client.WithRetries(f.retries)}, {f.timeout > 0, client.WithTimeout(f.timeout)},
		{f.delay > 0, client.WithDelay(f.delay)}, {f.idempotencyKey != "", client.WithIdempotencyKey(f.idempotencyKey)},
	} {
		if o.set {
			opts = append(opts, o.opt)
		}
	}
	return opts, nil
}

// showing defines a command that calls do on the task its argument names
// and shows the task do returns.
func showing(do func(c *client.Client, ctx context.Context, id string) (*client.Task, error)) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc {
		return func(ctx context.Context, call *apiCall) error {
			task, err := do(call.client, ctx, call.args[0])
			if err != nil {
				return err
			}
			return showTask(call, task)
		}
	}
}

func defineWait(fs *flag.FlagSet) runFunc {
	settled := fs.Bool("settled", false, "wait for the webhook to be delivered or dead-lettered too")
	timeout := fs.Duration("timeout", 0, "give up after this long (exit 5); 0 waits for ever")
	return func(ctx context.Context, call *apiCall) error {
		if *timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		var opts []client.WaitOption
		if *settled {
			opts = append(opts, client.UntilSettled())
		}
		return waitAndShow(ctx, call, call.args[0], opts)
	}
}

// waitAndShow waits for the task, shows it, and exits 3 unless it
// succeeded (5 when the wait timed out).
func waitAndShow(ctx context.Context, call *apiCall, id string, opts []client.WaitOption) error {
	task, err := call.client.WaitTask(ctx, id, opts...)
	if errors.Is(err, context.DeadlineExceeded) {
		if task != nil {
			_ = showTask(call, task)
		}
		return &exitError{code: exitWaitTimeout, msg: "the task had not finished when --timeout passed"}
	}
	if err != nil {
		return err
	}
	if err := showTask(call, task); err != nil {
		return err
	}
	if task.Status != client.StatusSucceeded {
		return &exitError{code: exitTaskFailed}
	}
	return nil
}

func defineReplay(fs *flag.FlagSet) runFunc {
	wait := fs.Bool("wait", false, "wait until the new task finishes (exit 3 if it failed)")
	return func(ctx context.Context, call *apiCall) error {
		task, err := call.client.ReplayTask(ctx, call.args[0])
		if err != nil {
			return err
		}
		if *wait {
			return waitAndShow(ctx, call, task.ID, nil)
		}
		return showTask(call, task)
	}
}
