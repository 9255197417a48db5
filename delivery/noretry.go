package delivery

import (
	"net/http"
	"strings"

	"github.com/boomerang-dev/boomerang/broker"
)

// Receiver control: a target may end a task's retries at once.
const (
	// HeaderNoRetry, answered as "true" with any status, makes the attempt
	// the last: a 2xx still succeeds, any other status fails the task.
	HeaderNoRetry = "Boomerang-No-Retry"
	// StatusNoRetry is the status a target answers to fail the task
	// without retries, whatever its headers.
	StatusNoRetry = 489
)

// Why an attempt the target asked not to retry was final, as recorded in
// the attempt's error.
const (
	reasonNoRetryHeader = "the target asked not to be retried (Boomerang-No-Retry)"
	reasonStatus489     = "the target asked not to be retried (status 489)"
)

// noRetry applies receiver control to an answer already classified as
// outcome with error text errText: a non-2xx answer with
// Boomerang-No-Retry: true, or status 489, fails the task at once, and the
// error says why. A 2xx is a success whatever the header says.
func noRetry(code int, h http.Header, outcome broker.Outcome, errText string) (broker.Outcome, string) {
	if outcome == broker.OutcomeSucceeded {
		return outcome, errText
	}
	switch {
	case code == StatusNoRetry:
		return broker.OutcomeFailed, errText + "; " + reasonStatus489
	case strings.EqualFold(strings.TrimSpace(h.Get(HeaderNoRetry)), "true"):
		return broker.OutcomeFailed, errText + "; " + reasonNoRetryHeader
	}
	return outcome, errText
}
