package broker

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// trickyPayload is JSON that encoding/json would rewrite if it were
// embedded: white space, <>&, \u escapes, a number spelled 1.0e2, a name
// given twice, U+2028.
const trickyPayload = "{ \"q\" : \"<a&b>\",\n\t\"e\":\"\\u00e9\\u003c\", \"n\": 1.0e2, \"q\": [ ], \"s\": \"\u2028\" }"

func TestSpecBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		spec     Spec
		body, ct string
		none     bool
	}{
		{"no payload", Spec{}, "", "", true},
		{"no payload, header", Spec{Headers: map[string]string{"Content-Type": "text/plain"}}, "", "", true},
		{"JSON as written", Spec{Payload: json.RawMessage(trickyPayload)}, trickyPayload, "application/json", false},
		{"a JSON string stays JSON", Spec{Payload: json.RawMessage(`"a\u0041"`)}, `"a\u0041"`, "application/json", false},
		{"JSON with a JSON type", Spec{Payload: json.RawMessage(`"x"`), ContentType: "application/merge-patch+json"}, `"x"`, "application/merge-patch+json", false},
		{"text", Spec{Payload: json.RawMessage(`"a\u0041\n<&>"`), ContentType: "text/plain"}, "aA\n<&>", "text/plain", false},
		{"empty text", Spec{Payload: json.RawMessage(`""`), ContentType: "text/plain"}, "", "text/plain", false},
		{"bytes", Spec{PayloadBase64: []byte{0, 0xff}}, "\x00\xff", "application/octet-stream", false},
		{"bytes with a type", Spec{PayloadBase64: []byte{1}, ContentType: "image/png"}, "\x01", "image/png", false},
		// Before contentType, a Content-Type header labelled the JSON bytes.
		{"header labels JSON", Spec{Payload: json.RawMessage(`"x"`), Headers: map[string]string{"content-type": "text/plain"}}, `"x"`, "text/plain", false},
		{"header labels bytes", Spec{PayloadBase64: []byte{1}, Headers: map[string]string{"Content-Type": "image/gif"}}, "\x01", "image/gif", false},
	}
	for _, tt := range tests {
		body, ct := tt.spec.Body()
		if (body == nil) != tt.none || string(body) != tt.body || ct != tt.ct {
			t.Errorf("%s: got %q (nil %v), %q; want %q (nil %v), %q", tt.name, body, body == nil, ct, tt.body, tt.none, tt.ct)
		}
	}
}

func TestIsJSONContentType(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]bool{
		"application/json": true, "Application/JSON; charset=utf-8": true, "application/cloudevents+json": true,
		"text/json": true, "text/plain": false, "application/x-ndjson": false, "application/xml": false, "": false, "json": false,
	} {
		if got := IsJSONContentType(ct); got != want {
			t.Errorf("IsJSONContentType(%q): got %v, want %v", ct, got, want)
		}
	}
}

// Events and due messages carry the payload byte for byte, and still read
// the events written before, which embedded it.
func TestStoredSpecKeepsPayloadBytes(t *testing.T) {
	t.Parallel()
	spec := Spec{TargetURL: "https://x", Method: "POST", Payload: json.RawMessage(trickyPayload), Retries: 1, Timeout: 5}
	data, err := marshal(createdEvent{Spec: spec, CreatedAt: time.Unix(1, 0).UTC(), RequestHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	var ev createdEvent
	if err := json.Unmarshal(data, &ev); err != nil || string(ev.Payload) != trickyPayload || ev.RequestHash != "h" || ev.TargetURL != "https://x" {
		t.Fatalf("created event round trip: got %q %+v, %v; want the payload as written", ev.Payload, ev, err)
	}
	if bytes.Contains(data, []byte(`"payload":`)) {
		t.Fatalf("the event embeds the payload: %s", data)
	}
	data, err = marshal(taskDue{TenantID: "ten_a", TaskID: "tsk_1", Attempt: 2, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	var due taskDue
	if err := json.Unmarshal(data, &due); err != nil || string(due.Spec.Payload) != trickyPayload || due.Attempt != 2 || due.TaskID != "tsk_1" {
		t.Fatalf("due round trip: got %q %+v, %v; want the payload as written", due.Spec.Payload, due, err)
	}
	bin := Spec{TargetURL: "https://x", PayloadBase64: []byte{0, 0xfe, 0xff}, ContentType: "image/png"}
	data, _ = marshal(taskDue{Spec: bin})
	if err := json.Unmarshal(data, &due); err != nil || !bytes.Equal(due.Spec.PayloadBase64, bin.PayloadBase64) || due.Spec.Payload != nil || due.Spec.ContentType != "image/png" {
		t.Fatalf("binary due round trip: got %+v, %v", due.Spec, err)
	}

	old := `{"targetUrl":"https://x","method":"POST","payload":{"q":"\u003ca\u0026b\u003e"},"retries":1,"timeout":5,"createdAt":"2026-01-01T00:00:00Z"}`
	if err := json.Unmarshal([]byte(old), &ev); err != nil || string(ev.Payload) != `{"q":"\u003ca\u0026b\u003e"}` {
		t.Fatalf("old created event: got %q, %v", ev.Payload, err)
	}
	oldDue := `{"tenantId":"ten_a","taskId":"tsk_1","attempt":3,"spec":{"targetUrl":"https://x","payload":[1, 2]}}`
	if err := json.Unmarshal([]byte(oldDue), &due); err != nil || string(due.Spec.Payload) != `[1, 2]` || due.Attempt != 3 {
		t.Fatalf("old due: got %q %+v, %v", due.Spec.Payload, due, err)
	}
}

// The view keeps the payload as written, from new events and old ones.
func TestViewKeepsPayloadBytes(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	p, _ := b.runProjector(t)
	b.publish(t, "ten_a", "tsk_1", KindCreated, createdEvent{Spec: Spec{TargetURL: "https://x", Payload: json.RawMessage(trickyPayload)}, CreatedAt: time.Now()})
	old := `{"targetUrl":"https://x","method":"POST","payload":{"a":1},"createdAt":"2026-01-01T00:00:00Z"}`
	ack, err := b.js.PublishMsg(t.Context(), &nats.Msg{Subject: taskSubject("ten_a", "tsk_2", KindCreated), Data: []byte(old)})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, ack.Sequence)
	for id, want := range map[string]string{"tsk_1": trickyPayload, "tsk_2": `{"a":1}`} {
		task, err := b.view.Get("ten_a", id)
		if err != nil || string(task.Payload) != want {
			t.Errorf("%s: got %q, %v; want %q", id, task.Payload, err, want)
		}
	}
}
