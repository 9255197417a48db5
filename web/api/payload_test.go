package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/signing"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// trickyPayload is JSON that a re-encoding would change: white space,
// <>&, \u escapes (a lone surrogate too), a number spelled 1.0e2, a name
// given twice, a non-ASCII character and U+2028.
const trickyPayload = "{ \"q\" : \"<a&b>\",\n\t\"e\":\"\\u00e9\\u003c\\ud83d\\ude00\\ud800\", \"n\": 1.0e2, \"big\": 12345678901234567890, \"q\": [ ], \"é\": \"\u2028\" }"

// The target gets the payload exactly as the request wrote it, signed over
// those bytes, on the first attempt and on the retry (which comes from a
// due message carrying the spec).
func TestPayloadReachesTheTargetByteForByte(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, creds := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(503, 200))
	body := `{"targetUrl": "` + target.URL + `", "retries": 2, "payload": ` + trickyPayload + `}`
	r := client.Do(t, http.MethodPost, "/v1/tasks", body)
	if r.Status != http.StatusAccepted {
		t.Fatalf("create: got %d %s", r.Status, r.Body)
	}
	var task broker.Task
	r.JSON(t, &task)
	secret, err := signing.ParseSecret(creds.SigningSecret)
	if err != nil {
		t.Fatal(err)
	}
	calls := target.WaitCallsFor(t, task.ID, 2)
	for i, call := range calls {
		if string(call.Body) != trickyPayload {
			t.Errorf("call %d: body %q, want %q", i+1, call.Body, trickyPayload)
		}
		if ct := call.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("call %d: Content-Type %q, want application/json", i+1, ct)
		}
		if err := signing.Verify(call.Header, call.Body, call.At, secret); err != nil {
			t.Errorf("call %d: the signature does not verify over the body received: %v", i+1, err)
		}
	}
	got := webtest.WaitTask(t, client, task.ID, 20*time.Second, webtest.Finished)
	if got.Status != broker.StatusSucceeded || !sameJSON(t, got.Payload, []byte(trickyPayload)) {
		t.Fatalf("task: %s with payload %s, want succeeded with the payload", got.Status, got.Payload)
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// Payloads that are not JSON reach the target as their bytes, with their
// content type; the task shows them as the request gave them.
func TestPayloadsThatAreNotJSON(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, _ := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(200))
	binary := []byte{0, 1, 0xfe, 0xff, '\n', 0x80}
	tests := []struct {
		name     string
		fields   map[string]any
		body, ct string
	}{
		{"text", map[string]any{"payload": "line 1\nline <2> & \"3\"", "contentType": "text/plain; charset=utf-8"},
			"line 1\nline <2> & \"3\"", "text/plain; charset=utf-8"},
		{"form", map[string]any{"payload": "a=1&b=%C3%A9+x", "contentType": "application/x-www-form-urlencoded"},
			"a=1&b=%C3%A9+x", "application/x-www-form-urlencoded"},
		{"XML", map[string]any{"payload": `<?xml version="1.0"?><a b="c">&amp;</a>`, "contentType": "application/xml"},
			`<?xml version="1.0"?><a b="c">&amp;</a>`, "application/xml"},
		{"empty text", map[string]any{"payload": "", "contentType": "text/plain"}, "", "text/plain"},
		{"binary", map[string]any{"payloadBase64": base64.StdEncoding.EncodeToString(binary)}, string(binary), "application/octet-stream"},
		{"binary with a type", map[string]any{"payloadBase64": base64.StdEncoding.EncodeToString(binary), "contentType": "image/png"}, string(binary), "image/png"},
		{"JSON with a JSON type", map[string]any{"payload": map[string]int{"a": 1}, "contentType": "application/cloudevents+json"},
			`{"a":1}`, "application/cloudevents+json"},
		{"a JSON string stays JSON", map[string]any{"payload": "hi"}, `"hi"`, "application/json"},
		{"a header labels JSON, as before", map[string]any{"payload": "hi", "headers": map[string]string{"Content-Type": "text/plain"}}, `"hi"`, "text/plain"},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		tt.fields["targetUrl"] = target.URL
		ids[i] = webtest.CreateTask(t, client, tt.fields).ID
	}
	for i, tt := range tests {
		call := target.WaitCallsFor(t, ids[i], 1)[0]
		if string(call.Body) != tt.body || call.Header.Get("Content-Type") != tt.ct {
			t.Errorf("%s: got %q as %q, want %q as %q", tt.name, call.Body, call.Header.Get("Content-Type"), tt.body, tt.ct)
		}
	}
	// The task shows a binary payload as the request gave it: base64 in
	// payloadBase64, with its content type.
	var task map[string]any
	client.Do(t, http.MethodGet, "/v1/tasks/"+ids[5], nil).JSON(t, &task)
	if task["payloadBase64"] != base64.StdEncoding.EncodeToString(binary) || task["contentType"] != "image/png" || task["payload"] != nil {
		t.Fatalf("binary task: got payload %v, payloadBase64 %v, contentType %v", task["payload"], task["payloadBase64"], task["contentType"])
	}
}

// A created event as earlier versions wrote it (the payload embedded, as
// encoding/json compacted it) still runs, with the bytes it holds.
func TestOldCreatedEventStillRuns(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, creds := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(200))
	id := broker.NewTaskID()
	old := `{"targetUrl":"` + target.URL + `","method":"POST","payload":{"q":"\u003ca\u0026b\u003e"},"retries":0,"timeout":30,"createdAt":"` +
		time.Now().UTC().Format(time.RFC3339Nano) + `"}`
	env.Publish(t, "task."+creds.TenantID+"."+id+".created", []byte(old))
	call := target.WaitCallsFor(t, id, 1)[0]
	if string(call.Body) != `{"q":"\u003ca\u0026b\u003e"}` || call.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("target got %q as %q", call.Body, call.Header.Get("Content-Type"))
	}
	task := webtest.WaitTask(t, client, id, 20*time.Second, webtest.Finished)
	if task.Status != broker.StatusSucceeded || string(task.Payload) != `{"q":"\u003ca\u0026b\u003e"}` {
		t.Fatalf("task: %s with payload %s", task.Status, task.Payload)
	}
}

// Payload fields that contradict each other, or that would be read one
// way and meant another, are refused; nothing is published.
func TestBadPayloadsAreRefused(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, _ := env.Tenant(t, "acme")
	refuseEach(t, env, client, []refusal{
		{"payload and payloadBase64", `"payload": 1, "payloadBase64": "AA=="`, "payloadBase64", ""},
		{"base64 not base64", `"payloadBase64": "not base64!"`, "payloadBase64", ""},
		{"base64 unpadded", `"payloadBase64": "AA"`, "payloadBase64", ""},
		{"base64 URL alphabet", `"payloadBase64": "-_8="`, "payloadBase64", ""},
		{"base64 with a line break", `"payloadBase64": "AAAA\nAAAA"`, "payloadBase64", ""},
		{"base64 empty", `"payloadBase64": ""`, "payloadBase64", ""},
		{"base64 wrong type", `"payloadBase64": [1]`, "payloadBase64", ""},
		{"contentType without payload", `"contentType": "text/plain"`, "contentType", ""},
		{"contentType with a null payload", `"payload": null, "contentType": "text/plain"`, "contentType", ""},
		{"contentType and a Content-Type header", `"payload": "x", "contentType": "text/plain", "headers": {"Content-Type": "text/plain"}`, "contentType", ""},
		{"contentType and a content-type header", `"payload": "x", "contentType": "text/plain", "headers": {"content-type": "text/html"}`, "contentType", ""},
		{"contentType not a media type", `"payload": "x", "contentType": "plain"`, "contentType", ""},
		{"contentType empty", `"payload": "x", "contentType": ""`, "contentType", ""},
		{"contentType with CR LF", `"payload": "x", "contentType": "text/plain\r\nX-Injected: 1"`, "contentType", ""},
		{"contentType too long", `"payload": "x", "contentType": "text/` + strings.Repeat("x", 300) + `"`, "contentType", ""},
		{"object as text", `"payload": {"a": 1}, "contentType": "text/plain"`, "payload", ""},
		{"number as form data", `"payload": 1, "contentType": "application/x-www-form-urlencoded"`, "payload", ""},
		{"text with a lone surrogate", `"payload": "a\ud800b", "contentType": "text/plain"`, "payload", ""},
		{"payload given twice", `"payload": "a", "payload": "b"`, "payload", ""},
	})
}
