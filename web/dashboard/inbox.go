package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/devtools"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// Inbox is what the inbox page reads of the webhook inbox of `serve --dev`
// (a *devtools.Inbox).
type Inbox interface {
	// After returns the webhooks kept that came after seq, newest first.
	After(seq uint64) []devtools.Webhook
	// Get returns webhook seq if it is still kept.
	Get(seq uint64) (devtools.Webhook, bool)
	// Last is the number of the last webhook received.
	Last() uint64
	// Changed is closed when the next webhook arrives.
	Changed() <-chan struct{}
	// Size is how many webhooks are kept.
	Size() int
}

// inboxHeartbeat is how often an idle inbox stream sends a comment, so
// that proxies keep it open and a client that left is noticed.
const inboxHeartbeat = 15 * time.Second

// HasInbox reports whether the node has a webhook inbox to show.
func (d *Dashboard) HasInbox() bool { return d.inbox != nil }

type inboxData struct {
	URL   string // where the inbox receives webhooks
	Items []inboxItem
	Last  uint64 // the newest webhook shown: live updates start after it
	Size  int
}

// inboxItem is a webhook as the inbox page shows it.
type inboxItem struct {
	devtools.Webhook
	// Type and TaskID are read from a Boomerang webhook's body.
	Type, TaskID string
	Headers      [][2]string
	BodyText     string
	Now          time.Time
}

func newInboxItem(w devtools.Webhook, now time.Time) inboxItem {
	it := inboxItem{Webhook: w, Now: now}
	for name, values := range w.Headers {
		it.Headers = append(it.Headers, [2]string{strings.ToLower(name), strings.Join(values, ", ")})
	}
	sort.Slice(it.Headers, func(i, j int) bool { return it.Headers[i][0] < it.Headers[j][0] })
	var text string
	if json.Unmarshal(w.Body, &text) == nil {
		it.BodyText = text // not JSON, or cut short
	} else {
		it.BodyText = prettyJSON(w.Body)
		var body struct {
			Type string `json:"type"`
			Data struct {
				TaskID string `json:"taskId"`
			} `json:"data"`
		}
		if json.Unmarshal(w.Body, &body) == nil {
			it.Type = body.Type
			if broker.ValidToken(body.Data.TaskID) {
				it.TaskID = body.Data.TaskID
			}
		}
	}
	return it
}

// InboxPage handles GET /inbox: the webhooks the --dev inbox received,
// newest first, each with its signature's verdict, headers and body. New
// ones appear live.
func (d *Dashboard) InboxPage(c echo.Context) error {
	if d.inbox == nil {
		return problem.NotFound.New("This node has no webhook inbox: start it with --dev.")
	}
	data := inboxData{URL: d.baseURL(c) + "/dev/inbox", Size: d.inbox.Size()}
	now := d.now()
	for _, w := range d.inbox.After(0) {
		data.Items = append(data.Items, newInboxItem(w, now))
	}
	if len(data.Items) > 0 {
		data.Last = data.Items[0].Seq
	}
	return d.render(c, http.StatusOK, "inbox", view{Title: "Inbox", Nav: "inbox", Data: data})
}

// InboxItem handles GET /inbox/:seq: one webhook of the inbox, for live
// updates.
func (d *Dashboard) InboxItem(c echo.Context) error {
	seq, err := strconv.ParseUint(c.Param("seq"), 10, 64)
	var w devtools.Webhook
	ok := false
	if err == nil && d.inbox != nil {
		w, ok = d.inbox.Get(seq)
	}
	if !ok {
		return problem.NotFound.New("No such webhook in the inbox (it keeps the last ones only).")
	}
	var buf bytes.Buffer
	if err := d.pages["inbox"].ExecuteTemplate(&buf, "inbox-item", newInboxItem(w, d.now())); err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// InboxLive handles GET /inbox/live: Server-Sent Events, one "received"
// per webhook the inbox gets, after Last-Event-ID (or ?lastEventId=) when
// given, from now on otherwise. It ends when the client leaves, the
// session ends or the server closes.
func (d *Dashboard) InboxLive(c echo.Context) error {
	if d.inbox == nil {
		return problem.NotFound.New("This node has no webhook inbox.")
	}
	after, err := inboxResume(c, d.inbox.Last())
	if err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	beat := time.NewTicker(inboxHeartbeat)
	defer beat.Stop()
	for {
		changed := d.inbox.Changed()
		items := d.inbox.After(after)
		for i := len(items) - 1; i >= 0; i-- {
			it := items[i]
			if _, err := fmt.Fprintf(w, "id: %d\nevent: received\ndata: {\"seq\":%d,\"verified\":%t}\n\n", it.Seq, it.Seq, it.Verified); err != nil {
				return nil
			}
			after = it.Seq
		}
		w.Flush()
		select {
		case <-changed:
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return nil
			}
		case <-c.Request().Context().Done():
			return nil
		case <-d.closing:
			return nil
		}
	}
}

// inboxResume reads where an inbox stream resumes: Last-Event-ID, or
// ?lastEventId=, or the last webhook now. An id beyond last comes from
// before the node restarted (the inbox is in memory): everything the inbox
// holds now is new to that client.
func inboxResume(c echo.Context, last uint64) (uint64, error) {
	for k := range c.QueryParams() {
		if k != "lastEventId" {
			return 0, problem.Invalid(problem.FieldError{Field: k, Message: "is not a parameter of this stream"})
		}
	}
	v := c.Request().Header.Get("Last-Event-ID")
	if v == "" {
		v = c.QueryParam("lastEventId")
	}
	if v == "" {
		return last, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, problem.Invalid(problem.FieldError{Field: "Last-Event-ID", Message: "must be the id of an event of this stream"})
	}
	if n > last {
		return 0, nil
	}
	return n, nil
}
