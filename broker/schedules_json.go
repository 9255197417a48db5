package broker

import "encoding/json"

// A schedule's state is kept as JSON (Schedules.write), and encoding/json
// rewrites a json.RawMessage as it encodes it: it drops white space and
// escapes <, > and &. The template's payload is the target's body, which
// a task keeps byte for byte, so the stored state carries it apart, as a
// JSON string holding its bytes exactly (taskPayload), which a reader
// prefers to task.payload. A state stored before (task.payload only) still
// reads.

// storedSchedule is a schedule's state as it is stored.
type storedSchedule struct {
	scheduleFields
	TaskPayload *string `json:"taskPayload,omitempty"`
}

// scheduleFields is Schedule without its methods, so that encoding it does
// not come back to MarshalJSON.
type scheduleFields Schedule

// MarshalJSON encodes a schedule with its template's payload byte for
// byte (see storedSchedule).
func (sc Schedule) MarshalJSON() ([]byte, error) {
	s := storedSchedule{scheduleFields: scheduleFields(sc)}
	if len(sc.Task.Payload) > 0 {
		payload := string(sc.Task.Payload)
		s.TaskPayload = &payload
		if len(payload) > compatPayloadMax {
			s.Task.Payload = nil
		}
	}
	return json.Marshal(s)
}

// compatPayloadMax bounds the template payload also kept, rewritten, in
// task.payload, where a node of an older build reads it during a rolling
// upgrade (it fires the schedule with that payload, as it did before);
// a larger one is kept once, so a state stays within a message's size.
const compatPayloadMax = 64 << 10

// UnmarshalJSON reads what MarshalJSON writes, and states stored before it
// (the payload in task.payload).
func (sc *Schedule) UnmarshalJSON(data []byte) error {
	var s storedSchedule
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	*sc = Schedule(s.scheduleFields)
	if s.TaskPayload != nil {
		sc.Task.Payload = json.RawMessage(*s.TaskPayload)
	}
	return nil
}
