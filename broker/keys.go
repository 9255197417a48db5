package broker

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Keyed queues: ordering keys and flow control, one mechanism.
//
// A task with an OrderingKey or a FlowControl is not attempted when it is
// created: the dispatcher appends it to its key's queue and kicks the key.
// A kick runs the admitter (keys_admit.go) on one node, which moves the
// oldest waiting tasks to "holding" while the key has free slots, is not
// paused and its rate allows, and publishes their first due. An ordering
// key is a key of parallelism 1 whose slot is held through the task's
// retries; a flow-control key has parallelism M (attempts being made) and
// a rate of N per period, and a task's slot is given back after each
// attempt (its retry waits in the queue again). Everything is in the
// schedules stream (a work queue whose key subjects no consumer takes, so
// they stay):
//
//	sched.keystate.<tenant>.<token>  the key's state (keyState, JSON), one message
//	                                 (rollup), changed only with an expected last
//	                                 subject sequence: of two nodes one wins
//	sched.keyq.<tenant>.<token>      the queue: one message per waiting task (a taskDue)
//	due.key.<tenant>.<token>         a kick; the shared consumer "key-admit" takes it
//	sched.key.<tenant>.<token>       the one pending schedule of a key its rate holds
//	                                 back, firing a kick at the next admission time
//
// A waiting task costs a message on disk and nothing else: no consumer's
// pending entry, no timer, no goroutine.

// Key kinds: a key's namespace. An ordering key and a flow-control key of
// the same name are different keys.
const (
	KeyOrdering    = "ordering"
	KeyFlowControl = "flowControl"
)

// MaxKeyLength bounds an ordering or flow-control key, in bytes.
const MaxKeyLength = 256

// FlowControl bounds how fast, and how many at once, the tenant's tasks
// with the same Key are attempted, across every node. Rate and Parallelism
// are optional (zero: no bound), but one of them is set.
type FlowControl struct {
	Key string `json:"key"`
	// Rate is how many attempts may start per Period.
	Rate int `json:"rate,omitempty"`
	// Period is Rate's period, a Go duration ("1s", "1m"); empty means 1s.
	Period string `json:"period,omitempty"`
	// Parallelism is how many attempts may be in flight at once.
	Parallelism int `json:"parallelism,omitempty"`
}

// DefaultKeyPeriod is the period of a flow-control rate that names none.
const DefaultKeyPeriod = time.Second

// PeriodDuration is the rate's period as a duration (DefaultKeyPeriod when
// empty or malformed).
func (f FlowControl) PeriodDuration() time.Duration {
	d, err := time.ParseDuration(f.Period)
	if err != nil || d <= 0 {
		return DefaultKeyPeriod
	}
	return d
}

// ErrKeyNotFound: no task has used the key and it was never paused, or it
// has been idle for KeyIdleTTL and is forgotten.
var ErrKeyNotFound = errors.New("broker: no such key")

// ValidKey reports what is wrong with an ordering or flow-control key, or
// "" when nothing is: 1 to MaxKeyLength bytes of UTF-8 without control
// characters.
func ValidKey(key string) string {
	switch {
	case key == "":
		return "must not be empty"
	case len(key) > MaxKeyLength:
		return fmt.Sprintf("must be at most %d bytes", MaxKeyLength)
	case !utf8.ValidString(key):
		return "must be UTF-8"
	case strings.IndexFunc(key, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}

// keyRef names one key of a tenant.
type keyRef struct {
	TenantID string
	Kind     string
	Key      string
	// Token, when set, is the key's token as a kick named it (the
	// admitter learns the kind and key from the state or the queue).
	Token string
}

// token is the key's subject token: any string may be a key, and a
// subject token may not hold dots, spaces or wildcards, so the token is a
// hash (base32, 26 characters) of the kind and the key. The key itself is
// kept in the state, for display.
func (k keyRef) token() string {
	if k.Token != "" {
		return k.Token
	}
	h := sha256.Sum256([]byte(k.Kind + "\x00" + k.Key))
	return idEncoding.EncodeToString(h[:16])
}

func (k keyRef) stateSubject() string { return "sched.keystate." + k.TenantID + "." + k.token() }
func (k keyRef) queueSubject() string { return "sched.keyq." + k.TenantID + "." + k.token() }
func (k keyRef) kickSubject() string  { return dueKeyPrefix + k.TenantID + "." + k.token() }
func (k keyRef) timerSubject() string { return "sched.key." + k.TenantID + "." + k.token() }

const (
	dueKeyPrefix     = "due.key."
	dueKeyFilter     = "due.key.*.*"
	consumerKeyAdmit = "key-admit"
)

// parseKick returns the tenant and token of due.key.<tenant>.<token>.
func parseKick(subject string) (tenantID, token string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(subject, dueKeyPrefix), ".")
	if !strings.HasPrefix(subject, dueKeyPrefix) || len(parts) != 2 || !ValidToken(parts[0]) || !ValidToken(parts[1]) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// keyOf returns the key a task's spec puts it under, if any. A spec has
// an ordering key or a flow control, not both (the API refuses both).
func keyOf(tenantID string, s Spec) (keyRef, bool) {
	switch {
	case s.OrderingKey != "":
		return keyRef{TenantID: tenantID, Kind: KeyOrdering, Key: s.OrderingKey}, true
	case s.FlowControl != nil && s.FlowControl.Key != "":
		return keyRef{TenantID: tenantID, Kind: KeyFlowControl, Key: s.FlowControl.Key}, true
	}
	return keyRef{}, false
}

// keyHolder is a task holding one of a key's slots: for an ordering key
// from its admission to its end, for flow control during one attempt.
type keyHolder struct {
	TaskID  string    `json:"taskId"`
	Attempt int       `json:"attempt"`
	Since   time.Time `json:"since"`
}

// keyState is a key's state, the one message on its state subject.
type keyState struct {
	Kind        string `json:"kind"`
	Key         string `json:"key"`
	Parallelism int    `json:"parallelism,omitempty"`
	Rate        int    `json:"rate,omitempty"`
	Period      string `json:"period,omitempty"`
	Paused      bool   `json:"paused,omitempty"`
	// Holding are the tasks holding a slot, oldest first.
	Holding []keyHolder `json:"holding,omitempty"`
	// Admitted is the queue's sequence admitted (or skipped) up to.
	Admitted uint64 `json:"admitted,omitempty"`
	// TAT is the rate's theoretical arrival time (GCRA).
	TAT time.Time `json:"tat,omitzero"`
}

// configure takes the key's configuration from a task's spec: an
// ordering key has parallelism 1 and no rate; a flow-control key the
// values of the latest task the admitter reads (see docs).
func (s *keyState) configure(k keyRef, spec Spec) {
	s.Kind, s.Key = k.Kind, k.Key
	if k.Kind == KeyOrdering {
		s.Parallelism, s.Rate, s.Period = 1, 0, ""
		return
	}
	if fc := spec.FlowControl; fc != nil {
		s.Parallelism, s.Rate, s.Period = fc.Parallelism, fc.Rate, fc.Period
	}
}

// reconfigure takes the key's kind and name, and a flow-control key's
// values, from a task in its queue, and reports whether that changed them.
func (s *keyState) reconfigure(k keyRef, spec Spec) bool {
	before := *s
	s.configure(k, spec)
	return before.Kind != s.Kind || before.Key != s.Key || before.Parallelism != s.Parallelism ||
		before.Rate != s.Rate || before.Period != s.Period
}

// duplicate reports whether a queue entry is one the key took already:
// its task holds a slot for that attempt or a later one (an ordering key's
// task holds its slot through every attempt).
func (s *keyState) duplicate(due taskDue) bool {
	for _, h := range s.Holding {
		if h.TaskID == due.TaskID && (s.Kind == KeyOrdering || h.Attempt >= due.Attempt) {
			return true
		}
	}
	return false
}

// holds reports whether the task holds a slot.
func (s *keyState) holds(taskID string) bool {
	for _, h := range s.Holding {
		if h.TaskID == taskID {
			return true
		}
	}
	return false
}

// release drops the task's slot, held for an attempt up to attempt (0:
// whichever), and reports whether it held one.
func (s *keyState) release(taskID string, attempt int) bool {
	for i, h := range s.Holding {
		if h.TaskID == taskID && (attempt == 0 || h.Attempt <= attempt) {
			s.Holding = append(s.Holding[:i:i], s.Holding[i+1:]...)
			return true
		}
	}
	return false
}

// full reports whether every slot is taken.
func (s *keyState) full() bool {
	return s.Parallelism > 0 && len(s.Holding) >= s.Parallelism
}

// rateAllows applies the generic cell rate algorithm: Rate admissions per
// period, in bursts of up to Rate. It reports whether one more may start
// at now (and then counts it), or else the earliest time it may.
func (s *keyState) rateAllows(now time.Time) (bool, time.Time) {
	if s.Rate <= 0 {
		return true, time.Time{}
	}
	period := FlowControl{Period: s.Period}.PeriodDuration()
	interval := period / time.Duration(s.Rate)
	tolerance := period - interval
	tat := s.TAT
	if tat.Before(now) {
		tat = now
	}
	if tat.Sub(now) > tolerance {
		return false, tat.Add(-tolerance)
	}
	s.TAT = tat.Add(interval).UTC()
	return true, time.Time{}
}

// KeyInfo is what the API shows of a key.
type KeyInfo struct {
	Key         string `json:"key"`
	Kind        string `json:"kind"`
	Parallelism int    `json:"parallelism,omitempty"`
	Rate        int    `json:"rate,omitempty"`
	Period      string `json:"period,omitempty"`
	Paused      bool   `json:"paused"`
	// Waiting is how many tasks wait in the key's queue.
	Waiting int `json:"waiting"`
	// InFlight is how many tasks hold a slot.
	InFlight int `json:"inFlight"`
	// Holding are the tasks holding a slot, and Queue the first tasks
	// waiting, in order (at most MaxKeyQueueListed).
	Holding []string `json:"holding"`
	Queue   []string `json:"queue"`
}

// MaxKeyQueueListed bounds KeyInfo.Queue.
const MaxKeyQueueListed = 100
