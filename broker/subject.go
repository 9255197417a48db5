package broker

import (
	"errors"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Event kinds in the task stream (see Subjects below).
const (
	KindCreated   = "created"
	KindStarted   = "started"
	KindAttempt   = "attempt"
	KindSucceeded = "succeeded"
	KindFailed    = "failed"
	KindCanceled  = "canceled"
	KindDelivery  = "delivery"
	KindDelivered = "delivered"
	KindDead      = "dead"
	KindRedeliver = "redeliver"
	// KindPrune drops a tenant's finished tasks from the view: it is
	// published on task.<tenant>.tenant.prune, a subject no
	// worker consumes, and applied by every node's projector (prune.go).
	KindPrune = "prune"
)

// pruneToken stands for the task in a prune event's subject: the event is
// about the whole tenant, and no task id (tsk_…) can be "tenant".
const pruneToken = "tenant"

// Schedule kinds: a pending schedule waits on sched.<kind>.<tenant>.<task>
// and fires onto due.<kind>.<tenant>.<task>.
const (
	dueTask = "task"
	dueHook = "hook"
)

// errBadSubject is what parseTaskEvent returns for a subject that is not
// one of ours; no caller outside the package ever sees it.
var errBadSubject = errors.New("broker: unexpected subject")

// Subjects. The task stream keeps, in memory, an entry for every subject
// it holds (about 100 bytes, more while a block's subjects are loaded), for
// as long as it holds a message on it: a subject per task and kind would
// make the memory grow with every task in the stream's retention, waiting
// or finished, and the garbage collector mark it all at every cycle. So a
// task's events go on its tenant's subject for their kind,
// task.<tenant>.<kind>, and name the task in the Boomerang-Task header.
// Two events are read back by task, and keep a subject of their task,
// task.<tenant>.<task>.<kind>: the created event of a task with an
// idempotency key (the stream refuses a second one on any node: see
// firstOnSubject, and Tasks.Create reads the first back), and canceled
// (the deliverer asks the stream whether a cancel came before a task's
// end). Events written before this change are all on their task's
// subject, and read the same.

// headerTask names the task of an event on its kind's subject.
const headerTask = "Boomerang-Task"

// taskSubject is the subject of the task's own events of a kind.
func taskSubject(tenantID, taskID, kind string) string {
	return "task." + tenantID + "." + taskID + "." + kind
}

// kindSubject is the subject of every task's events of a kind in a tenant.
func kindSubject(tenantID, kind string) string {
	return "task." + tenantID + "." + kind
}

// eventSubject sets the subject of a task's event: the kind's, with the
// task in a header, except for a cancel, which keeps its task's own, and a
// prune event, whose subject is its tenant's already.
func eventSubject(msg *nats.Msg, tenantID, taskID, kind string) {
	if kind == KindCanceled || taskID == pruneToken {
		msg.Subject = taskSubject(tenantID, taskID, kind)
		return
	}
	msg.Subject = kindSubject(tenantID, kind)
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	msg.Header.Set(headerTask, taskID)
}

// ownSubject moves an event that eventSubject put on its kind's subject to
// its task's own.
func ownSubject(msg *nats.Msg) {
	parts := strings.Split(msg.Subject, ".")
	taskID := msg.Header.Get(headerTask)
	if len(parts) != 3 || taskID == "" {
		return
	}
	msg.Subject = taskSubject(parts[1], taskID, parts[2])
	msg.Header.Del(headerTask)
}

// eventFilters are the filters that match a kind's events: on the kind's
// subject and on the tasks' own.
func eventFilters(kinds ...string) []string {
	var filters []string
	for _, kind := range kinds {
		filters = append(filters, kindSubject("*", kind), taskSubject("*", "*", kind))
	}
	return filters
}

func scheduleSubject(kind, tenantID, taskID string) string {
	return "sched." + kind + "." + tenantID + "." + taskID
}

func dueSubject(kind, tenantID, taskID string) string {
	return "due." + kind + "." + tenantID + "." + taskID
}

// parseTaskEvent returns the tenant, task and kind of an event in the task
// stream: from task.<tenant>.<task>.<kind>, or from task.<tenant>.<kind>
// and the Boomerang-Task header.
func parseTaskEvent(msg jetstream.Msg) (tenantID, taskID, kind string, err error) {
	subject := msg.Subject()
	parts := strings.Split(subject, ".")
	switch {
	case len(parts) == 4 && parts[0] == "task":
		return parts[1], parts[2], parts[3], nil
	case len(parts) == 3 && parts[0] == "task":
		if taskID := msg.Headers().Get(headerTask); ValidToken(taskID) {
			return parts[1], taskID, parts[2], nil
		}
	}
	return "", "", "", errBadSubject
}

// ValidToken reports whether s can be one token of a subject: ids from
// outside must pass it before they are put in a subject.
func ValidToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
