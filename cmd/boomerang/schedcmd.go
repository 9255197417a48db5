package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/boomerang-dev/boomerang/client"
)

// The schedule commands: boomerang schedules create|list|get|pause|
// resume|delete, on the client package's schedule calls.

func defineScheduleCreate(fs *flag.FlagSet) runFunc {
	var timing client.ScheduleTiming
	fs.StringVar(&timing.Cron, "cron", "", `a five-field cron pattern, like "0 9 * * mon-fri", or @hourly, @daily, …`)
	fs.StringVar(&timing.Timezone, "timezone", "", "the IANA time zone of --cron, like Europe/Paris (default UTC)")
	fs.DurationVar(&timing.Every, "every", 0, "an interval instead of --cron, like 30s or 15m (at least 1s)")
	f := defineTaskFlags(fs)
	return func(ctx context.Context, call *apiCall) error {
		if (timing.Cron == "") == (timing.Every == 0) {
			return usageErr("give --cron or --every")
		}
		opts, err := f.options()
		if err != nil {
			return err
		}
		s, err := call.client.CreateSchedule(ctx, timing, call.args[0], opts...)
		if err != nil {
			return err
		}
		return showSchedule(call, s)
	}
}

func defineScheduleList(*flag.FlagSet) runFunc {
	return func(ctx context.Context, call *apiCall) error {
		list, err := call.client.ListSchedules(ctx)
		if err != nil {
			return err
		}
		if call.json {
			return printJSON(call.out, list)
		}
		return scheduleTable(call.out, list)
	}
}

// defineScheduleGet shows a schedule and, to people, the tasks of its
// latest firings; --json prints the schedule alone (the API's object).
func defineScheduleGet(fs *flag.FlagSet) runFunc {
	n := fs.Int("tasks", 5, "how many of its latest firings' tasks to show (0: none; up to 200)")
	return func(ctx context.Context, call *apiCall) error {
		s, err := call.client.GetSchedule(ctx, call.args[0])
		if err != nil {
			return err
		}
		if err := showSchedule(call, s); err != nil || call.json || *n <= 0 {
			return err
		}
		tasks, err := call.client.ScheduleTasks(ctx, s.ID, *n)
		if err != nil {
			return err
		}
		fmt.Fprintf(call.out, "\nLatest firings:\n")
		return firingTable(call.out, tasks)
	}
}

func defineScheduleTasks(fs *flag.FlagSet) runFunc {
	limit := fs.Int("limit", 20, "how many tasks, 1 to 200")
	return func(ctx context.Context, call *apiCall) error {
		tasks, err := call.client.ScheduleTasks(ctx, call.args[0], *limit)
		if err != nil {
			return err
		}
		if call.json {
			return printJSON(call.out, tasks)
		}
		return firingTable(call.out, tasks)
	}
}

// scheduleShowing defines a command that calls do on the schedule its
// argument names and shows the schedule do returns.
func scheduleShowing(do func(c *client.Client, ctx context.Context, id string) (*client.Schedule, error)) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc {
		return func(ctx context.Context, call *apiCall) error {
			s, err := do(call.client, ctx, call.args[0])
			if err != nil {
				return err
			}
			return showSchedule(call, s)
		}
	}
}

func defineScheduleDelete(*flag.FlagSet) runFunc {
	return func(ctx context.Context, call *apiCall) error {
		if err := call.client.DeleteSchedule(ctx, call.args[0]); err != nil {
			return err
		}
		if call.json {
			return printJSON(call.out, map[string]any{"id": call.args[0], "deleted": true})
		}
		_, err := fmt.Fprintf(call.out, "Schedule %s deleted: it fires no more; the tasks it made stay.\n", call.args[0])
		return err
	}
}

// showSchedule prints a schedule, as JSON or as a block of facts.
func showSchedule(call *apiCall, s *client.Schedule) error {
	if call.json {
		return printJSON(call.out, s)
	}
	w := tabwriter.NewWriter(call.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "ID\t%s\n", s.ID)
	fmt.Fprintf(w, "Status\t%s\n", s.Status)
	fmt.Fprintf(w, "Fires\t%s\n", s.Summary())
	fmt.Fprintf(w, "Next firing\t%s\n", nextFiring(s))
	if f := s.LastFiring; f != nil {
		made := "made " + f.TaskID
		if f.Skipped != "" {
			made = "made no task: " + f.Skipped
		}
		fmt.Fprintf(w, "Last firing\t%s, %s\n", cliTime(f.At), made)
	}
	fmt.Fprintf(w, "Task\t%s %s, at most %d attempts, %s each\n", s.Task.Method, s.Task.TargetURL, s.Task.Retries+1,
		time.Duration(s.Task.Timeout*float64(time.Second)))
	if s.Task.WebhookURL != "" {
		fmt.Fprintf(w, "Webhook\t%s\n", s.Task.WebhookURL)
	}
	if s.Task.FailureWebhookURL != "" {
		fmt.Fprintf(w, "Failure webhook\t%s\n", s.Task.FailureWebhookURL)
	}
	fmt.Fprintf(w, "Created\t%s\n", cliTime(s.CreatedAt))
	fmt.Fprintf(w, "Updated\t%s\n", cliTime(s.UpdatedAt))
	return w.Flush()
}

// nextFiring says when a schedule fires next.
func nextFiring(s *client.Schedule) string {
	if s.Status == client.SchedulePaused {
		return "- (paused)"
	}
	return optTime(s.NextFiringAt, "now")
}

// firingTable prints the tasks of a schedule's firings, latest first.
func firingTable(out io.Writer, tasks []*client.Task) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FIRING\tTASK\tSTATUS\tATTEMPTS\tCREATED AFTER")
	for _, t := range tasks {
		if t.FiringAt == nil {
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", cliTime(*t.FiringAt), t.ID, t.Status, t.AttemptCount,
			t.CreatedAt.Sub(*t.FiringAt).Round(time.Millisecond))
	}
	if len(tasks) == 0 {
		fmt.Fprintln(w, "(none yet)")
	}
	return w.Flush()
}

// scheduleTable prints schedules as a table.
func scheduleTable(out io.Writer, list []client.Schedule) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tFIRES\tNEXT FIRING\tTASK\tCREATED")
	for i := range list {
		s := &list[i]
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s %s\t%s\n", s.ID, s.Status, s.Summary(), nextFiring(s),
			s.Task.Method, short(s.Task.TargetURL, 60), cliTime(s.CreatedAt))
	}
	if len(list) == 0 {
		fmt.Fprintln(w, "(no schedules)")
	}
	return w.Flush()
}
