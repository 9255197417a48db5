package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// newTemplate reads the task template of POST /v1/schedules as POST
// /v1/tasks reads a task (decodeMember, then the validator), its fields
// named task.<field>: unknown or miscased members are refused, and the
// payload is kept byte for byte.
func (a *API) newTemplate(raw json.RawMessage) (broker.Spec, error) {
	if len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return broker.Spec{}, problem.Invalid(problem.FieldError{Field: "task", Message: "is required"})
	}
	var req TaskRequest
	if p := a.decoder.decodeMember("task", raw, &req); p != nil {
		return broker.Spec{}, p
	}
	return a.template(req)
}

// patchedTemplate applies the task member of PATCH /v1/schedules/{id}, a
// JSON merge patch (RFC 7396), to the schedule's template as GET shows it:
// a member given replaces the template's, null removes it (an optional
// field takes its default again), an object is merged into the
// template's (headers, flowControl), members left out stay. payload is
// the one exception: it is the target's body, kept byte for byte, so a
// payload given replaces the template's whole. The result is read as
// newTemplate reads a new one.
func (a *API) patchedTemplate(current broker.Spec, patch json.RawMessage) (broker.Spec, error) {
	trimmed := bytes.TrimSpace(patch)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return broker.Spec{}, problem.Invalid(problem.FieldError{Field: "task",
			Message: "must be an object: a merge patch of the template (null removes a member, members left out stay)"})
	}
	dupes, err := repeatedNames(patch)
	if err != nil {
		return broker.Spec{}, problemMalformed("The body could not be decoded as the expected JSON object.")
	}
	for i := range dupes {
		dupes[i] = "task." + dupes[i]
	}
	if p := repeatedNamesProblem(dupes); p != nil {
		return broker.Spec{}, p
	}
	doc, err := templateDoc(current)
	if err != nil {
		return broker.Spec{}, fmt.Errorf("schedule template: %w", err)
	}
	merged, err := mergePatch(doc, patch, map[string]bool{"payload": true})
	if err != nil {
		return broker.Spec{}, problemMalformed("The task could not be merged with the schedule's template.")
	}
	return a.newTemplate(merged)
}

// template checks a decoded task template as a task create would, without
// an Idempotency-Key or a start time (each firing sets its own).
func (a *API) template(req TaskRequest) (broker.Spec, error) {
	var errs []problem.FieldError
	if req.Delay != nil || req.NotBefore != nil {
		errs = append(errs, problem.FieldError{Field: "task", Message: "may not have delay or notBefore: each firing starts its task"})
	}
	spec, more := a.validator.Task(req, "")
	for _, e := range more {
		e.Field = "task." + e.Field
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return spec, problem.Invalid(errs...)
	}
	return spec, nil
}

// templateDoc is a template as GET /v1/schedules/{id} shows it, but for
// its payload, which is the client's bytes as they came.
func templateDoc(spec broker.Spec) ([]byte, error) {
	payload := spec.Payload
	spec.Payload, spec.IdempotencyKey, spec.NotBefore = nil, "", nil
	doc, err := json.Marshal(spec)
	if err != nil || len(payload) == 0 {
		return doc, err
	}
	doc = append(doc[:len(doc)-1], `,"payload":`...) // doc is an object with targetUrl: not empty
	return append(append(doc, payload...), '}'), nil
}

// mergePatch applies the JSON merge patch patch (RFC 7396) to the JSON
// object doc, both already read as valid JSON: a member set to null is
// removed, an object merged into an object member, any other value
// replaces the member. Members named in whole are replaced rather than
// merged. Values the patch leaves alone keep their bytes; members come
// out sorted by name.
func mergePatch(doc, patch []byte, whole map[string]bool) ([]byte, error) {
	var target, changes map[string]json.RawMessage
	if err := json.Unmarshal(doc, &target); err != nil || target == nil {
		target = map[string]json.RawMessage{} // RFC 7396: a patch object replaces a non-object
	}
	if err := json.Unmarshal(patch, &changes); err != nil {
		return nil, err
	}
	for name, value := range changes {
		switch {
		case string(value) == "null":
			delete(target, name)
		case isObject(value) && !whole[name]:
			merged, err := mergePatch(target[name], value, nil)
			if err != nil {
				return nil, err
			}
			target[name] = merged
		default:
			target[name] = value
		}
	}
	return appendObject(nil, target)
}

func isObject(v json.RawMessage) bool {
	trimmed := bytes.TrimSpace(v)
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// appendObject appends members as a JSON object, sorted by name, each
// value as its bytes are (json.Marshal would rewrite them).
func appendObject(b []byte, members map[string]json.RawMessage) ([]byte, error) {
	names := make([]string, 0, len(members))
	for name := range members {
		names = append(names, name)
	}
	slices.SortFunc(names, strings.Compare)
	b = append(b, '{')
	for i, name := range names {
		if i > 0 {
			b = append(b, ',')
		}
		quoted, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, quoted...), ':'), members[name]...)
	}
	return append(b, '}'), nil
}
