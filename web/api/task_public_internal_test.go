package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
)

// Error texts can quote what the request held (a URL in a transport error,
// a header in a refusal): what a status token reads of them is the kind of
// failure, with nothing of the request, however the text is worded.
func TestPublicTextsKeepNothingOfTheRequest(t *testing.T) {
	spec := broker.Spec{
		TargetURL:  "https://api.example/v1/PATHSECRET?key=QUERYSECRET#FRAGSECRET",
		WebhookURL: "https://hooks.example/T0/B0/HOOKSECRET?sig=HOOKQUERY",
		Headers:    map[string]string{"Authorization": "Bearer HEADERSECRET"},
		Payload:    json.RawMessage(`{"PAYLOADSECRET":1}`),
	}
	secrets := []string{"PATHSECRET", "QUERYSECRET", "FRAGSECRET", "HOOKSECRET", "HOOKQUERY", "HEADERSECRET", "PAYLOADSECRET"}
	for text, want := range map[string]string{
		`connection failed: Post "https://api.example/v1/PATHSECRET?key=QUERYSECRET": EOF`: "connection failed",
		"target answered 503 Service Unavailable":                                          "target answered 503 Service Unavailable",
		"refused https://hooks.example/T0/B0/HOOKSECRET?sig=HOOKQUERY":                     "refused …",
		"header Bearer HEADERSECRET was refused":                                           "header … was refused",
		`invalid request: {"PAYLOADSECRET":1}`:                                             "invalid request",
		"":                                                                                 "",
	} {
		got := publicError(text, spec)
		for _, s := range secrets {
			if strings.Contains(got, s) {
				t.Errorf("publicError(%q) = %q: shows %s", text, got, s)
			}
		}
		if got != want {
			t.Errorf("publicError(%q) = %q, want %q", text, got, want)
		}
	}

	leaky := `dial "https://hooks.example/T0/B0/HOOKSECRET?sig=HOOKQUERY" failed`
	e := publicEvent(broker.Event{
		Attempt: &broker.AttemptEvent{Number: 1, Error: leaky},
		Webhook: &broker.WebhookEvent{Status: broker.WebhookRetrying, Delivery: &broker.DeliveryEvent{Number: 1, Error: leaky}},
	}, spec)
	task := &broker.Task{Spec: spec, Attempts: []broker.Attempt{{Number: 1, Error: leaky,
		Response: broker.Response{StatusCode: 500, Headers: map[string]string{"X": "HEADERSECRET"}, Body: json.RawMessage(`"QUERYSECRET"`)}}},
		Result: &broker.Result{Error: leaky}}
	for name, v := range map[string]any{"event": e, "view": publicView(task)} {
		data, _ := json.Marshal(v)
		for _, s := range secrets {
			if strings.Contains(string(data), s) {
				t.Errorf("the public %s shows %s: %s", name, s, data)
			}
		}
	}
	if task.Attempts[0].Error != leaky || task.Result.Error != leaky {
		t.Error("making the view public changed the task")
	}
}
