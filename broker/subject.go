package broker

import (
	"errors"
	"strings"
)

// Event kinds in the task stream: subjects are task.<tenant>.<task>.<kind>.
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

// errBadSubject is what parseTaskSubject returns for a subject that is not
// one of ours; no caller outside the package ever sees it.
var errBadSubject = errors.New("broker: unexpected subject")

func taskSubject(tenantID, taskID, kind string) string {
	return "task." + tenantID + "." + taskID + "." + kind
}

func scheduleSubject(kind, tenantID, taskID string) string {
	return "sched." + kind + "." + tenantID + "." + taskID
}

func dueSubject(kind, tenantID, taskID string) string {
	return "due." + kind + "." + tenantID + "." + taskID
}

// parseTaskSubject splits task.<tenant>.<task>.<kind>.
func parseTaskSubject(subject string) (tenantID, taskID, kind string, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 4 || parts[0] != "task" {
		return "", "", "", errBadSubject
	}
	return parts[1], parts[2], parts[3], nil
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
