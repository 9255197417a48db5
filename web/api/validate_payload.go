package api

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"mime"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/net/http/httpguts"

	"github.com/boomerang-dev/boomerang/broker"
)

// maxContentTypeLen bounds contentType.
const maxContentTypeLen = 255

// checkPayload checks payload, payloadBase64 and contentType and sets the
// spec's payload:
//   - payload is any JSON value, kept byte for byte; null means none;
//   - payloadBase64 is bytes, in standard base64 (RFC 4648, padded), not
//     empty; a task has one payload or the other;
//   - contentType names the payload's media type; with a type that is not
//     JSON, payload must be a string, whose text is the body. It may not be
//     set twice: Content-Type in headers as well is refused.
func checkPayload(req TaskRequest, spec *broker.Spec, fail func(field, format string, args ...any)) {
	hasJSON := len(req.Payload) > 0 && string(req.Payload) != "null"
	hasBytes := req.PayloadBase64 != nil
	switch {
	case hasJSON && hasBytes:
		fail("payloadBase64", "give payload or payloadBase64, not both")
		return
	case hasBytes:
		data, msg := decodeBase64(*req.PayloadBase64)
		if msg != "" {
			fail("payloadBase64", "%s", msg)
			return
		}
		spec.PayloadBase64 = data
	case hasJSON:
		spec.Payload = req.Payload
	}
	if req.ContentType == nil {
		return
	}
	ct := *req.ContentType
	if msg := checkContentType(ct); msg != "" {
		fail("contentType", "%s", msg)
		return
	}
	switch {
	case !hasJSON && !hasBytes:
		fail("contentType", "describes the payload: send it with payload or payloadBase64")
	case hasHeader(req.Headers, "Content-Type"):
		fail("contentType", "is set in headers as well (Content-Type): set it in one place")
	case hasJSON && !broker.IsJSONContentType(ct) && !bytes.HasPrefix(req.Payload, []byte(`"`)):
		fail("payload", "must be a string when contentType is not a JSON type (the string's text is the body); send other bytes as payloadBase64")
	case hasJSON && !broker.IsJSONContentType(ct) && !jsontext.Value(req.Payload).IsValid():
		fail("payload", "must be text: a \\u escape from D800 to DFFF must be half of a surrogate pair; send other bytes as payloadBase64")
	default:
		spec.ContentType = ct
	}
}

// checkContentType returns what is wrong with a contentType, or "".
func checkContentType(ct string) string {
	if len(ct) > maxContentTypeLen || !httpguts.ValidHeaderFieldValue(ct) || strings.TrimSpace(ct) != ct {
		return fmt.Sprintf("must be a media type of at most %d characters, without control characters or surrounding spaces", maxContentTypeLen)
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") {
		return "must be a media type, like text/plain; charset=utf-8"
	}
	return ""
}

// decodeBase64 decodes standard, padded base64 strictly, so that one body
// has one spelling; it returns what is wrong otherwise.
func decodeBase64(s string) ([]byte, string) {
	const want = "must be standard base64 (RFC 4648 section 4, with padding, no line breaks)"
	if strings.ContainsAny(s, "\r\n") {
		return nil, want
	}
	data, err := base64.StdEncoding.Strict().DecodeString(s)
	switch {
	case err != nil:
		return nil, want
	case len(data) == 0:
		return nil, "must not be empty: leave the payload out for a call without a body"
	}
	return data, ""
}

// hasHeader reports whether h names header, in any case.
func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
