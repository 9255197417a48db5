package broker

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrEventTooLarge is returned for an event or schedule that does not fit
// the stream's message limit, even with the responses it records cut down.
// The stream would refuse it whatever the number of tries: work that meets
// it is not redelivered (see worker.settle).
var ErrEventTooLarge = errors.New("broker: event too large for the stream")

// messageHeadroom is what a message's headers (webhook flag, expected
// sequence, schedule) may take of the connection's max payload, which
// counts headers and data together.
const messageHeadroom = 4 << 10

// MaxErrorLen bounds every error text and receiver's answer an event
// records: the callers bound theirs already; this is the last guard.
const MaxErrorLen = 1 << 10

// boundText cuts s to MaxErrorLen bytes of valid UTF-8.
func boundText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxErrorLen {
		return s
	}
	cut := MaxErrorLen - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// recorder is an event that records responses from outside (a target's, in
// an attempt or a result). To fit the stream it can lose their bodies or
// their headers: encodeFit drops them and notes it.
type recorder interface {
	responses() []*Response
	// note tells why parts of the responses were dropped, where the event
	// keeps its error text; it replaces an earlier note.
	note(text string)
}

// tooLargeNote starts the note of a response cut down to fit.
const tooLargeNote = "response too large to record: "

// withNote returns errText with note in place of an earlier one.
func withNote(errText, note string) string {
	if i := strings.Index(errText, tooLargeNote); i >= 0 {
		errText = strings.TrimSuffix(errText[:i], "; ")
	}
	if errText == "" {
		return tooLargeNote + note
	}
	return errText + "; " + tooLargeNote + note
}

// encodeFit encodes v (encodeValue: binary when it has a binary form, else
// JSON) in at most limit bytes. A recorder that does
// not fit loses its responses' bodies, or else their headers, or else both,
// the first of these that fits, with markers (bodyTruncated,
// headersTruncated) and a note; anything else that does not fit is
// ErrEventTooLarge.
func encodeFit(v any, limit int) ([]byte, error) {
	data, err := encodeValue(v)
	if err != nil || len(data) <= limit {
		return data, err
	}
	size := len(data)
	if r, ok := v.(recorder); ok {
		resps := r.responses()
		saved := make([]Response, len(resps))
		for i, resp := range resps {
			saved[i] = *resp
		}
		for _, parts := range [][]string{{"body"}, {"headers"}, {"body", "headers"}} {
			changed := false
			for i, resp := range resps {
				*resp = saved[i]
				for _, part := range parts {
					changed = resp.drop(part) || changed
				}
			}
			if !changed {
				continue
			}
			r.note(strings.Join(parts, " and ") + " dropped")
			if data, err = encodeValue(v); err != nil || len(data) <= limit {
				return data, err
			}
		}
	}
	return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrEventTooLarge, size, limit)
}

// drop removes the response's body or headers, leaving the marker, and
// reports whether there was any.
func (r *Response) drop(part string) bool {
	switch {
	case part == "body" && r.Body != nil:
		r.Body, r.BodyEncoding, r.BodyTruncated = nil, "", true
	case part == "headers" && r.Headers != nil:
		r.Headers, r.HeadersTruncated = nil, true
	default:
		return false
	}
	return true
}

func (e *attemptEvent) responses() []*Response { return []*Response{&e.Attempt.Response} }

func (e *attemptEvent) note(text string) { e.Attempt.Error = withNote(e.Attempt.Error, text) }

func (e *finishedEvent) responses() []*Response {
	if e.Attempt == nil {
		return nil
	}
	return []*Response{&e.Attempt.Response}
}

func (e *finishedEvent) note(text string) {
	if e.Attempt != nil {
		e.Attempt.Error = withNote(e.Attempt.Error, text)
	}
}

// A due webhook carries the result it delivers; the markers tell the
// receiver what was dropped, and the result's error stays the task's.
func (d *hookDue) responses() []*Response { return []*Response{&d.Notification.Result.Response} }

func (d *hookDue) note(string) {}

// fitsAsJSON checks that v, whose binary encoding is data, also fits limit
// as JSON: a task's due messages carry its spec as JSON, which can be
// larger (a payload's quotes and control characters are escaped, six bytes
// at most for one). Only a large event is encoded again to see.
func fitsAsJSON(v any, data []byte, limit int) error {
	if 6*len(data) <= limit {
		return nil
	}
	asJSON, err := marshal(v)
	if err != nil {
		return err
	}
	if len(asJSON) > limit {
		return fmt.Errorf("%w: %d bytes as JSON, the limit is %d", ErrEventTooLarge, len(asJSON), limit)
	}
	return nil
}
