package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/boomerang-dev/boomerang/client"
)

// filterFlags are the dashboard's filters, for list and redeliver.
type filterFlags struct {
	status, webhook, host, after, before, idempotencyKey string
	since                                                time.Duration
}

func defineFilter(fs *flag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.StringVar(&f.status, "status", "", "pending, running, retrying, succeeded, failed or canceled")
	fs.StringVar(&f.webhook, "webhook", "", "the webhook's state: pending, retrying, delivered or dead")
	fs.StringVar(&f.host, "host", "", "the target's host")
	fs.DurationVar(&f.since, "since", 0, "created within this long, such as 1h")
	fs.StringVar(&f.after, "created-after", "", "created after this time (RFC 3339)")
	fs.StringVar(&f.before, "created-before", "", "created before this time (RFC 3339)")
	fs.StringVar(&f.idempotencyKey, "idempotency-key", "", "the task this key created")
	return f
}

// filter returns the flags as the client's filter; the server checks the
// values.
func (f *filterFlags) filter() (client.Filter, error) {
	out := client.Filter{Status: client.Status(f.status), Webhook: client.WebhookStatus(f.webhook), Host: f.host, IdempotencyKey: f.idempotencyKey}
	for _, t := range []struct {
		name, value string
		dst         *time.Time
	}{{"--created-after", f.after, &out.CreatedAfter}, {"--created-before", f.before, &out.CreatedBefore}} {
		if t.value == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339Nano, t.value)
		if err != nil {
			return out, usageErr("%s must be an RFC 3339 time, like 2026-01-02T15:04:05Z", t.name)
		}
		*t.dst = v
	}
	if f.since > 0 {
		if f.after != "" {
			return out, usageErr("give --since or --created-after, not both")
		}
		out.CreatedAfter = time.Now().Add(-f.since)
	}
	return out, nil
}

func defineList(fs *flag.FlagSet) runFunc {
	filter := defineFilter(fs)
	limit := fs.Int("limit", 50, "show at most this many tasks; 0 shows all")
	return func(ctx context.Context, call *apiCall) error {
		f, err := filter.filter()
		if err != nil {
			return err
		}
		opts := client.ListOptions{Filter: f}
		if *limit > 0 {
			opts.PageSize = min(*limit, 200)
		}
		tasks := []*client.Task{}
		for task, err := range call.client.ListTasks(ctx, opts) {
			if err != nil {
				return err
			}
			tasks = append(tasks, task)
			if *limit > 0 && len(tasks) == *limit {
				break
			}
		}
		if call.json {
			return printJSON(call.out, tasks)
		}
		return taskTable(call.out, tasks)
	}
}

func defineTail(fs *flag.FlagSet) runFunc {
	after := fs.Uint64("after", 0, "start after this event (its seq); without it, a task's events from its creation, or all your tasks' from now")
	return func(ctx context.Context, call *apiCall) error {
		var opts []client.EventOption
		if *after > 0 {
			opts = append(opts, client.After(*after))
		}
		events := call.client.TenantEvents(ctx, opts...)
		if len(call.args) == 1 {
			events = call.client.TaskEvents(ctx, call.args[0], opts...)
		}
		for e, err := range events {
			if err != nil {
				return err
			}
			if call.json {
				data, _ := json.Marshal(e)
				fmt.Fprintf(call.out, "%s\n", data)
				continue
			}
			fmt.Fprintln(call.out, eventLine(e))
		}
		return nil
	}
}

func defineRedeliver(fs *flag.FlagSet) runFunc {
	filter := defineFilter(fs)
	all := fs.Bool("all", false, "every task the filters select (such as --webhook dead), not one task")
	dryRun := fs.Bool("dry-run", false, "with --all: count, send nothing")
	return func(ctx context.Context, call *apiCall) error {
		if hasID := len(call.args) == 1; hasID == *all {
			return usageErr("give a task id, or --all with filters")
		}
		if !*all {
			task, err := call.client.RedeliverTask(ctx, call.args[0])
			if err != nil {
				return err
			}
			if call.json {
				return printJSON(call.out, task)
			}
			_, err = fmt.Fprintf(call.out, "Redelivering the webhook of %s (webhook-id %s).\n", task.ID, task.Webhook.ID)
			return err
		}
		f, err := filter.filter()
		if err != nil {
			return err
		}
		res, err := call.client.RedeliverAll(ctx, client.RedeliverRequest{Filter: f, DryRun: *dryRun})
		if err != nil {
			return err
		}
		if call.json {
			return printJSON(call.out, res)
		}
		verb := "Redelivering"
		if *dryRun {
			verb = "Would redeliver"
		}
		_, err = fmt.Fprintf(call.out, "%s %d webhook(s); %d matching task(s) had none to send.\n", verb, res.Redelivered, res.Skipped)
		return err
	}
}

func defineKeyCreate(fs *flag.FlagSet) runFunc {
	var scopes scopeFlags
	fs.Var(&scopes, "scope", "a scope of the key: tasks:read, tasks:write, webhooks:write, keys:admin, secrets:admin (repeat it; none: every scope)")
	return func(ctx context.Context, call *apiCall) error {
		key, err := call.client.CreateKey(ctx, call.args[0], scopes...)
		if err != nil {
			return err
		}
		if call.json {
			return printJSON(call.out, key)
		}
		_, err = fmt.Fprintf(call.out, "%s\n\nKey %q (id %s, scopes %s). Copy it now: it is not shown again.\n",
			key.APIKey, key.Name, key.ID, scopeText(key.Scopes))
		return err
	}
}

// scopeFlags collects repeated --scope flags.
type scopeFlags []client.Scope

func (s *scopeFlags) String() string { return "" }

func (s *scopeFlags) Set(v string) error { *s = append(*s, client.Scope(v)); return nil }

func defineKeyList(*flag.FlagSet) runFunc {
	return func(ctx context.Context, call *apiCall) error {
		keys, err := call.client.ListKeys(ctx)
		if err != nil {
			return err
		}
		if call.json {
			return printJSON(call.out, keys)
		}
		return keyTable(call.out, keys)
	}
}

func defineKeyRevoke(*flag.FlagSet) runFunc {
	return func(ctx context.Context, call *apiCall) error {
		if err := call.client.RevokeKey(ctx, call.args[0]); err != nil {
			return err
		}
		if call.json {
			return printJSON(call.out, map[string]any{"id": call.args[0], "revoked": true})
		}
		_, err := fmt.Fprintf(call.out, "Key %s revoked: it no longer works.\n", call.args[0])
		return err
	}
}
