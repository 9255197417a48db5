package testenv

import (
	"testing"
	"time"
)

// GiveUpAfter is how long WaitUntil waits before it fails the test. It only
// bounds a test that would otherwise hang: no test passes or fails by it,
// so it is generous enough for a machine whose CPUs are busy with other
// work.
const GiveUpAfter = 60 * time.Second

// GiveUp is how long a wait whose caller asked for timeout waits before it
// fails the test: timeout, but never less than GiveUpAfter. A caller may
// extend a wait (for a long webhook schedule, say), never shorten it: a
// short limit would only make a loaded machine fail a correct test.
func GiveUp(timeout time.Duration) time.Duration { return max(timeout, GiveUpAfter) }

// WaitUntil polls cond until it holds, and fails the test with what and
// cond's last state if it never does within GiveUpAfter. cond returns
// whether the awaited state is reached and, for the failure message, the
// state it saw. Prefer waiting on the event itself (a channel, a
// Target.WaitCalls) where one exists.
func WaitUntil(tb testing.TB, what string, cond func() (ok bool, state string)) {
	tb.Helper()
	deadline := time.Now().Add(GiveUpAfter)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waited %s for %s; last seen: %s", GiveUpAfter, what, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
