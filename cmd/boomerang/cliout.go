package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/boomerang-dev/boomerang/client"
)

// The human output of the API commands: a task as a block of facts, lists
// as tables, events as lines. --json prints the API's objects instead.

// cliTime is how times are shown: UTC, to the millisecond.
func cliTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") }

// showTask prints a task, as JSON or as a block of facts.
func showTask(call *apiCall, t *client.Task) error {
	if call.json {
		return printJSON(call.out, t)
	}
	w := tabwriter.NewWriter(call.out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "ID\t%s\n", t.ID)
	fmt.Fprintf(w, "Status\t%s\n", t.Status)
	fmt.Fprintf(w, "Target\t%s %s\n", t.Method, t.TargetURL)
	fmt.Fprintf(w, "Created\t%s\n", cliTime(t.CreatedAt))
	if t.NextAttemptAt != nil {
		fmt.Fprintf(w, "Next attempt\t%s\n", cliTime(*t.NextAttemptAt))
	}
	if t.FinishedAt != nil {
		fmt.Fprintf(w, "Finished\t%s\n", cliTime(*t.FinishedAt))
	}
	fmt.Fprintf(w, "Attempts\t%d of at most %d\n", t.AttemptCount, t.Retries+1)
	for _, a := range t.Attempts {
		fmt.Fprintf(w, "\t#%d %s%s, %.0f ms%s\n", a.Number, a.Outcome, statusText(a.StatusCode), a.DurationMs, errText(a.Error))
	}
	if r := t.Result; r != nil {
		fmt.Fprintf(w, "Result\t%s%s\n", strings.TrimPrefix(statusText(r.StatusCode), ", "), errText(r.Error))
		if len(r.Body) > 0 {
			fmt.Fprintf(w, "\t%s\n", short(string(r.Body), 200))
		}
	}
	if h := t.Webhook; h != nil {
		state := string(h.Status)
		if state == "" {
			state = "waiting for the task to finish"
		}
		fmt.Fprintf(w, "Webhook\t%s, %s (%s)\n", state, plural(len(h.Deliveries), "delivery", "deliveries"), t.WebhookURL)
	}
	if t.ReplayOf != "" {
		fmt.Fprintf(w, "Replay of\t%s\n", t.ReplayOf)
	}
	if len(t.Replays) > 0 {
		fmt.Fprintf(w, "Replays\t%s\n", strings.Join(t.Replays, ", "))
	}
	return w.Flush()
}

// plural says "1 delivery" or "2 deliveries".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func statusText(code int) string {
	if code == 0 {
		return ""
	}
	return fmt.Sprintf(", HTTP %d", code)
}

func errText(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}

// short cuts s to n bytes, on a rune boundary, with an ellipsis.
func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// taskTable prints tasks as a table, newest first.
func taskTable(out io.Writer, tasks []*client.Task) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tATTEMPTS\tWEBHOOK\tTARGET\tCREATED")
	for _, t := range tasks {
		hook := "-"
		if t.Webhook != nil && t.Webhook.Status != "" {
			hook = string(t.Webhook.Status)
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s %s\t%s\n", t.ID, t.Status, t.AttemptCount, hook, t.Method, short(t.TargetURL, 60), cliTime(t.CreatedAt))
	}
	if len(tasks) == 0 {
		fmt.Fprintln(w, "(no tasks)")
	}
	return w.Flush()
}

// eventLine says what an event did, on one line.
func eventLine(e client.Event) string {
	line := fmt.Sprintf("%s  %-6d %s  %-9s %-9s", cliTime(e.At), e.Seq, e.TaskID, e.Type, e.Status)
	if a := e.Attempt; a != nil {
		line += fmt.Sprintf("  attempt #%d%s%s", a.Number, statusText(a.StatusCode), errText(a.Error))
	}
	if h := e.Webhook; h != nil {
		line += "  webhook " + string(h.Status)
		if d := h.Delivery; d != nil {
			line += fmt.Sprintf(" (delivery #%d%s%s)", d.Number, statusText(d.StatusCode), errText(d.Error))
		}
	}
	if e.NextAttemptAt != nil {
		line += "  next " + cliTime(*e.NextAttemptAt)
	}
	return strings.TrimRight(line, " ")
}

// keyTable prints API keys as a table.
func keyTable(out io.Writer, keys []client.Key) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tPREFIX\tSCOPES\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, scopeText(k.Scopes), cliTime(k.CreatedAt),
			optTime(k.LastUsedAt, "never"), optTime(k.RevokedAt, "-"))
	}
	return w.Flush()
}

func optTime(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return cliTime(*t)
}

// scopeText lists scopes, or says "all".
func scopeText(scopes []client.Scope) string {
	all := []client.Scope{client.ScopeTasksRead, client.ScopeTasksWrite, client.ScopeWebhooksWrite, client.ScopeKeysAdmin, client.ScopeSecretsAdmin}
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	if len(scopes) == len(all) {
		return "all"
	}
	return strings.Join(names, ",")
}
