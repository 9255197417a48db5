package api

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
)

// Bounds of a task's flowControl.
const (
	maxKeyRate        = 1_000_000
	maxKeyParallelism = 10_000
	minKeyPeriod      = time.Millisecond
	maxKeyPeriod      = 24 * time.Hour
)

// FlowControlRequest is a task's flowControl as a client sends it.
type FlowControlRequest struct {
	Key         *string `json:"key"`
	Rate        *int    `json:"rate"`
	Period      *string `json:"period"`
	Parallelism *int    `json:"parallelism"`

	unknown []string // members that are none of the above, sorted
}

// UnmarshalJSON reads a flowControl object and notes the members that are
// not exactly one of its names (encoding/json would take "Rate" for
// "rate", and ignore "burst"), for checkFlowControl to refuse.
func (r *FlowControlRequest) UnmarshalJSON(data []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	for name := range members {
		if !slices.Contains([]string{"key", "rate", "period", "parallelism"}, name) {
			r.unknown = append(r.unknown, name)
		}
	}
	slices.Sort(r.unknown)
	type plain FlowControlRequest
	return json.Unmarshal(data, (*plain)(r))
}

// checkKeys checks orderingKey and flowControl and sets them in the spec.
// A task has one or the other: an ordering key is a queue of its own, and
// one task in two queues could hold a slot in one while it waits in the
// other.
func checkKeys(req TaskRequest, spec *broker.Spec, fail func(field, format string, args ...any)) {
	if req.OrderingKey != nil && req.FlowControl != nil {
		fail("flowControl", "give orderingKey or flowControl, not both")
		return
	}
	if req.OrderingKey != nil {
		if msg := broker.ValidKey(*req.OrderingKey); msg != "" {
			fail("orderingKey", "%s", msg)
		}
		spec.OrderingKey = *req.OrderingKey
	}
	if req.FlowControl != nil {
		spec.FlowControl = checkFlowControl(*req.FlowControl, fail)
	}
}

// checkFlowControl checks a flowControl object and returns it with its
// period's default.
func checkFlowControl(r FlowControlRequest, fail func(field, format string, args ...any)) *broker.FlowControl {
	fc := &broker.FlowControl{}
	for _, name := range r.unknown {
		fail("flowControl."+name, "unknown field")
	}
	if r.Key == nil {
		fail("flowControl.key", "is required")
	} else if msg := broker.ValidKey(*r.Key); msg != "" {
		fail("flowControl.key", "%s", msg)
	} else {
		fc.Key = *r.Key
	}
	if r.Rate == nil && r.Parallelism == nil {
		fail("flowControl", "give rate, parallelism or both")
	}
	if r.Rate != nil {
		if *r.Rate < 1 || *r.Rate > maxKeyRate {
			fail("flowControl.rate", "must be between 1 and %d", maxKeyRate)
		}
		fc.Rate, fc.Period = *r.Rate, broker.DefaultKeyPeriod.String()
	}
	if r.Parallelism != nil {
		if *r.Parallelism < 1 || *r.Parallelism > maxKeyParallelism {
			fail("flowControl.parallelism", "must be between 1 and %d", maxKeyParallelism)
		}
		fc.Parallelism = *r.Parallelism
	}
	if r.Period != nil {
		d, err := time.ParseDuration(*r.Period)
		switch {
		case err != nil:
			fail("flowControl.period", "must be a duration, like 1s, 1m or 1h")
		case d < minKeyPeriod || d > maxKeyPeriod:
			fail("flowControl.period", "must be between %s and %s", minKeyPeriod, maxKeyPeriod)
		case r.Rate == nil:
			fail("flowControl.period", "is the period of rate: give rate too")
		default:
			fc.Period = *r.Period
		}
	}
	return fc
}
