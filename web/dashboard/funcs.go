package dashboard

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
)

// templateFuncs are the helpers the page templates use.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"ago":        ago,
		"fmtTime":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") },
		"isoTime":    func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		"fmtMs":      fmtMs,
		"waterfall":  taskWaterfall,
		"host":       broker.HostOf,
		"target":     targetShort,
		"pretty":     prettyJSON,
		"payload":    payloadOf,
		"body":       bodyText,
		"headerList": headerList,
		"deref":      func(t *time.Time) time.Time { return *t },
		"fromNow":    fromNow,
		"last":       func(d []broker.Delivery) int { return len(d) - 1 },
		"list":       func(s ...string) []string { return s },
		"row":        func(t *broker.Task, now time.Time) rowData { return rowData{Task: t, Now: now} },
		"days": func(d time.Duration) string {
			if days := int(d.Hours() / 24); days >= 1 {
				return fmt.Sprintf("%d days", days)
			}
			return d.String()
		},
		"scopes": scopesText,
		"statusList": func() []broker.Status {
			return []broker.Status{broker.StatusPending, broker.StatusRunning, broker.StatusRetrying, broker.StatusSucceeded, broker.StatusFailed, broker.StatusCanceled}
		},
	}
}

// scopesText says what a key may do: "all", or its scopes.
func scopesText(scopes []tenant.Scope) string {
	if (tenant.Principal{Scopes: scopes}).HasAllScopes() {
		return "all"
	}
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// ago says how long before now t was: "3m ago", or "just now".
func ago(t, now time.Time) string {
	if d := now.Sub(t); d < time.Second && d > -time.Second {
		return "just now"
	}
	return humanDuration(now.Sub(t)) + " ago"
}

// fromNow says when t, a time things are due, comes: "in 3m", "now"
// within a second either way, or "due 5s ago" once it has passed.
func fromNow(t *time.Time, now time.Time) string {
	switch d := t.Sub(now); {
	case d >= time.Second:
		return "in " + humanDuration(d)
	case d > -time.Second:
		return "now"
	default:
		return "due " + humanDuration(d) + " ago"
	}
}

func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

func fmtMs(ms float64) string {
	switch {
	case ms < 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 1000:
		return fmt.Sprintf("%.0f ms", ms)
	default:
		return fmt.Sprintf("%.2f s", ms/1000)
	}
}

func percent(part, whole int) string {
	if whole == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(part)/float64(whole))
}

// prettyJSON indents a JSON value for display.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// bodyText shows a recorded body: JSON pretty-printed, a string as its text,
// base64 decoded when it is text, otherwise described.
func bodyText(r broker.Response) string {
	if len(r.Body) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(r.Body, &s) != nil {
		return prettyJSON(r.Body) // embedded JSON
	}
	if r.BodyEncoding == "base64" {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return s
		}
		return fmt.Sprintf("(%d bytes of binary data, base64)\n%s", len(raw), s)
	}
	return s
}

// payloadView is a task's payload as its page shows it.
type payloadView struct{ Text, ContentType string }

// payloadOf shows what the target receives: JSON indented, text as it is,
// bytes described and in base64 (as bodyText shows a binary response);
// nil for a task without payload.
func payloadOf(s broker.Spec) *payloadView {
	body, ct := s.Body()
	switch {
	case body == nil:
		return nil
	case s.PayloadBase64 != nil:
		return &payloadView{fmt.Sprintf("(%d bytes of binary data, base64)\n%s", len(body), base64.StdEncoding.EncodeToString(body)), ct}
	case s.ContentType == "" || broker.IsJSONContentType(s.ContentType):
		return &payloadView{prettyJSON(s.Payload), ct}
	}
	return &payloadView{string(body), ct}
}

// headerList sorts headers by name for display.
func headerList(h map[string]string) [][2]string {
	out := make([][2]string, 0, len(h))
	for k, v := range h {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// curlCommand is a command that creates the same task again through the
// API, with the key left to the shell: every field of the task's spec that
// POST /v1/tasks takes in its body (the Idempotency-Key header is left
// out: with it the API would answer with this task instead). The payload
// is written as the task has it, byte for byte, so the target gets the
// same bytes again; a start time passed is no delay.
func curlCommand(t *broker.Task, base string) string {
	var body bytes.Buffer
	member := func(name string, v any) {
		if body.Len() > 0 {
			body.WriteString(",\n")
		}
		enc := json.NewEncoder(&body)
		enc.SetEscapeHTML(false)
		body.WriteString("  ")
		_ = enc.Encode(name) // strings, numbers and maps of strings always encode
		body.Truncate(body.Len() - 1)
		body.WriteString(": ")
		if raw, ok := v.(json.RawMessage); ok {
			body.Write(raw)
			return
		}
		_ = enc.Encode(v)
		body.Truncate(body.Len() - 1)
	}
	member("targetUrl", t.TargetURL)
	member("method", t.Method)
	if len(t.Headers) > 0 {
		member("headers", t.Headers)
	}
	if len(t.Payload) > 0 {
		member("payload", t.Payload)
	}
	if t.PayloadBase64 != nil {
		member("payloadBase64", base64.StdEncoding.EncodeToString(t.PayloadBase64))
	}
	if t.ContentType != "" {
		member("contentType", t.ContentType)
	}
	if t.WebhookURL != "" {
		member("webhookUrl", t.WebhookURL)
	}
	if t.FailureWebhookURL != "" {
		member("failureWebhookUrl", t.FailureWebhookURL)
	}
	member("retries", t.Retries)
	member("timeout", t.Timeout)
	if t.NotBefore != nil {
		member("notBefore", t.NotBefore.UTC().Format(time.RFC3339Nano))
	}
	if t.OrderingKey != "" {
		member("orderingKey", t.OrderingKey)
	}
	if t.FlowControl != nil {
		member("flowControl", t.FlowControl)
	}
	return fmt.Sprintf("curl -X POST '%s/v1/tasks' \\\n  -H \"Authorization: Bearer $BOOMERANG_API_KEY\" \\\n  -H 'Content-Type: application/json' \\\n  --data-binary '{\n%s\n}'",
		base, strings.ReplaceAll(body.String(), "'", `'\''`))
}

// targetShort is a target URL as a list shows it: its host with any port
// and its path, the path cut to fit.
func targetShort(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	const most = 40
	path := u.EscapedPath()
	if len(path) > most {
		path = path[:most] + "…"
	}
	return u.Host + path
}
