package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
)

// templatePatch returns the JSON merge patch (RFC 7396: the task member of
// PATCH /v1/schedules/{id}) that replaces schedule id's task template by
// task: members task sets are given, those it leaves out are removed
// (null), objects (headers, flowControl) lose the members task's lack. It
// reads the template first; a change made by another between the read
// and the PATCH may stay.
func (c *Client) templatePatch(ctx context.Context, id string, task *createRequest) (json.RawMessage, error) {
	var current struct {
		Task json.RawMessage `json:"task"`
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: schedulePath(id)}, &current); err != nil {
		return nil, err
	}
	next, err := json.Marshal(task)
	if err != nil {
		return nil, err
	}
	return replacement(current.Task, next)
}

// replacement returns the merge patch that turns the JSON object old into
// the JSON object next. A payload is given whole: the server replaces it
// rather than merging it.
func replacement(old, next json.RawMessage) (json.RawMessage, error) {
	var was, now map[string]json.RawMessage
	if err := json.Unmarshal(old, &was); err != nil {
		was = nil // not an object: next replaces it
	}
	if err := json.Unmarshal(next, &now); err != nil {
		return nil, err
	}
	patch := map[string]json.RawMessage{}
	for name := range was {
		if _, ok := now[name]; !ok {
			patch[name] = json.RawMessage("null")
		}
	}
	for name, value := range now {
		if name != "payload" && isJSONObject(value) && isJSONObject(was[name]) {
			sub, err := replacement(was[name], value)
			if err != nil {
				return nil, err
			}
			value = sub
		}
		patch[name] = value
	}
	return json.Marshal(patch)
}

func isJSONObject(v json.RawMessage) bool {
	trimmed := bytes.TrimSpace(v)
	return len(trimmed) > 0 && trimmed[0] == '{'
}
