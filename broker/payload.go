package broker

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"strings"
)

// Default media types of a payload that names none.
const (
	ContentTypeJSON   = "application/json"
	ContentTypeBinary = "application/octet-stream"
)

// IsJSONContentType reports whether a media type is JSON: application/json,
// text/json, or any type with the +json suffix (parameters aside). An
// unparsable type is not JSON.
func IsJSONContentType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// Body returns the body of the call to the target and its Content-Type, or
// nil when the task has no payload:
//   - PayloadBase64: its bytes;
//   - Payload, with a ContentType that is not JSON: the text of the JSON
//     string (the validator admits only strings there);
//   - Payload otherwise: its bytes exactly as the client wrote them.
//
// The Content-Type is ContentType; else a Content-Type among Headers (what
// tasks could say before ContentType existed); else application/json for
// Payload and application/octet-stream for PayloadBase64.
func (s Spec) Body() ([]byte, string) {
	ct := s.ContentType
	if ct == "" {
		ct = headerValue(s.Headers, "Content-Type")
	}
	switch {
	case s.PayloadBase64 != nil:
		if ct == "" {
			ct = ContentTypeBinary
		}
		return s.PayloadBase64, ct
	case len(s.Payload) == 0:
		return nil, ""
	case s.ContentType != "" && !IsJSONContentType(s.ContentType):
		var text string
		if json.Unmarshal(s.Payload, &text) == nil {
			return []byte(text), ct
		}
	}
	if ct == "" {
		ct = ContentTypeJSON
	}
	return s.Payload, ct
}

// headerValue returns the value of a header in h, whatever the case of its
// name, or "".
func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if http.CanonicalHeaderKey(k) == name {
			return v
		}
	}
	return ""
}

// Events, due messages and the view store a spec with its Payload as a
// JSON string, "payloadRaw", rather than as an embedded JSON value:
// encoding/json rewrites embedded values (it compacts them and escapes
// <, > and &), and the target must receive the payload byte for byte as
// the client wrote it. Older events embed "payload" (already compacted);
// they decode as before.

// wireSpec is a Spec as stored.
type wireSpec struct {
	Spec
	PayloadRaw *string `json:"payloadRaw,omitempty"`
}

func toWire(s Spec) wireSpec {
	if len(s.Payload) == 0 {
		return wireSpec{Spec: s}
	}
	raw := string(s.Payload)
	s.Payload = nil
	return wireSpec{Spec: s, PayloadRaw: &raw}
}

func (w wireSpec) spec() Spec {
	s := w.Spec
	if w.PayloadRaw != nil {
		s.Payload = json.RawMessage(*w.PayloadRaw)
	}
	return s
}

// MarshalJSON stores the event with its spec's payload as written.
func (e createdEvent) MarshalJSON() ([]byte, error) {
	type plain createdEvent // without these methods
	w := toWire(e.Spec)
	p := plain(e)
	p.Spec = w.Spec
	return marshal(struct {
		plain
		PayloadRaw *string `json:"payloadRaw,omitempty"`
	}{p, w.PayloadRaw})
}

// UnmarshalJSON reads an event in either format.
func (e *createdEvent) UnmarshalJSON(data []byte) error {
	type plain createdEvent
	var w struct {
		plain
		PayloadRaw *string `json:"payloadRaw"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*e = createdEvent(w.plain)
	e.Spec = wireSpec{Spec: e.Spec, PayloadRaw: w.PayloadRaw}.spec()
	return nil
}

// MarshalJSON stores the due message with its spec's payload as written.
func (d taskDue) MarshalJSON() ([]byte, error) {
	type plain taskDue
	return marshal(struct {
		plain
		Spec wireSpec `json:"spec"`
	}{plain(d), toWire(d.Spec)})
}

// UnmarshalJSON reads a due message in either format.
func (d *taskDue) UnmarshalJSON(data []byte) error {
	type plain taskDue
	var w struct {
		plain
		Spec wireSpec `json:"spec"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*d = taskDue(w.plain)
	d.Spec = w.Spec.spec()
	return nil
}

// marshal encodes v as JSON without escaping <, > and &: stored events
// stay as small as their content.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
