package broker

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// TestScheduleKeepsItsPayloadByteForByte: a template's payload is stored
// and read back exactly as given (white space, <>&, escapes, the
// spelling of numbers), through the schedules stream and a firing's task;
// a state stored before taskPayload existed still reads.
func TestScheduleKeepsItsPayloadByteForByte(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	tasks := NewTasks(b.pub, b.view, p, quiet, nil)
	ctx := context.Background()
	schedules := NewSchedules(b.pub, quiet, nil)
	const payload = "{ \"b\": 1.0e0,\n\t\"q\": \"<a&b>\\u00e9\" }"
	spec := scheduleTemplate
	spec.Payload = json.RawMessage(payload)
	sc, err := schedules.Create(ctx, "ten_a", ScheduleTiming{Every: time.Hour}, spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := schedules.Get(ctx, "ten_a", sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Task.Payload) != payload {
		t.Fatalf("stored payload %q, want %q", got.Task.Payload, payload)
	}
	f := NewScheduleFirer(b.js, b.pub, tasks, quiet, ScheduleFirerConfig{})
	at := time.Now().Add(time.Hour)
	if _, err := f.fire(ctx, "ten_a", sc.ID, got.Revision, at); err != nil {
		t.Fatal(err)
	}
	ev, err := b.pub.lastCreated(ctx, "ten_a", IdempotentTaskID("ten_a", FiringKey(sc.ID, at), 0))
	if err != nil {
		t.Fatal(err)
	}
	if string(ev.Spec.Payload) != payload {
		t.Errorf("the firing's task has payload %q, want %q", ev.Spec.Payload, payload)
	}

	var old Schedule
	if err := json.Unmarshal([]byte(`{"id":"sch_x","tenantId":"ten_a","every":3600000000000,"task":{"targetUrl":"https://example.com/","method":"POST","payload":{"a":1},"retries":0,"timeout":10},"status":"active"}`), &old); err != nil {
		t.Fatal(err)
	}
	if string(old.Task.Payload) != `{"a":1}` || old.Every != time.Hour || old.Task.TargetURL != "https://example.com/" {
		t.Errorf("an old state reads as %+v", old)
	}
}
