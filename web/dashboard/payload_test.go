package dashboard

import (
	"bytes"
	"encoding/json"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
)

// payloadTask is a task with the given payload fields.
func payloadTask(spec broker.Spec) *broker.Task {
	spec.TargetURL, spec.Method, spec.Retries, spec.Timeout = "https://e.com/x", "POST", 1, 30
	return &broker.Task{ID: "tsk_1", Status: broker.StatusPending, Spec: spec, CreatedAt: time.Unix(0, 0)}
}

// The task page shows what the target receives: JSON indented, text as
// it is, bytes as base64, each with its content type.
func TestTaskPageShowsPayloads(t *testing.T) {
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		spec broker.Spec
		want []string
	}{
		{"JSON", broker.Spec{Payload: json.RawMessage(`{"q":"<a&b>","n":1.0e2}`)},
			[]string{"application/json", "\"q\": \"<a&b>\",\n  \"n\": 1.0e2"}},
		{"text", broker.Spec{Payload: json.RawMessage(`"line 1\nline <2>"`), ContentType: "text/plain; charset=utf-8"},
			[]string{"text/plain; charset=utf-8", "line 1\nline <2>"}},
		{"form", broker.Spec{Payload: json.RawMessage(`"a=1&b=2"`), ContentType: "application/x-www-form-urlencoded"},
			[]string{"application/x-www-form-urlencoded", ">a=1&b=2<"}},
		{"binary", broker.Spec{PayloadBase64: []byte{0, 0xff, 1}, ContentType: "image/png"},
			[]string{"image/png", "(3 bytes of binary data, base64)\nAP8B"}},
	}
	for _, tt := range tests {
		task := payloadTask(tt.spec)
		var buf bytes.Buffer
		if err := d.pages["task"].ExecuteTemplate(&buf, "layout.html", view{Now: time.Unix(0, 0), Data: taskData{Task: task, Curl: curlCommand(task, "https://b.example")}}); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		page := html.UnescapeString(buf.String())
		for _, want := range tt.want {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the page lacks %q", tt.name, want)
			}
		}
	}
}

// Copy as curl creates the same task again: its body gives the API the
// payload byte for byte, whatever the payload's kind.
func TestCurlCommandKeepsThePayload(t *testing.T) {
	for _, spec := range []broker.Spec{
		{Payload: json.RawMessage("{ \"q\" : \"<a&b>\",\n \"it's\": 1.0e2, \"q\": [ ] }")},
		{Payload: json.RawMessage(`"it's text"`), ContentType: "text/plain"},
		{PayloadBase64: []byte{0, 0xff, '\''}, ContentType: "application/octet-stream"},
		{Headers: map[string]string{"X-A": "it's"}},
	} {
		task := payloadTask(spec)
		cmd := curlCommand(task, "https://b.example")
		_, quoted, ok := strings.Cut(cmd, "--data-binary '")
		if !ok || !strings.HasSuffix(quoted, "'") {
			t.Fatalf("no --data-binary '…' in %s", cmd)
		}
		body := strings.ReplaceAll(strings.TrimSuffix(quoted, "'"), `'\''`, "'") // as the shell reads it
		var got struct {
			TargetURL     string            `json:"targetUrl"`
			Headers       map[string]string `json:"headers"`
			Payload       json.RawMessage   `json:"payload"`
			PayloadBase64 []byte            `json:"payloadBase64"`
			ContentType   string            `json:"contentType"`
			Retries       int               `json:"retries"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if string(got.Payload) != string(spec.Payload) || !bytes.Equal(got.PayloadBase64, spec.PayloadBase64) ||
			got.ContentType != spec.ContentType || got.TargetURL != task.TargetURL || got.Retries != 1 || got.Headers["X-A"] != spec.Headers["X-A"] {
			t.Errorf("curl body %s gives %+v; want the task's %+v", body, got, spec)
		}
	}
}
