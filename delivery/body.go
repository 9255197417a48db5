package delivery

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// readCapped reads at most limit bytes of r and reports whether more
// followed. It never buffers more than limit+1 bytes.
func readCapped(r io.Reader, limit int) ([]byte, bool, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(data) > limit {
		return data[:limit], true, err
	}
	return data, false, err
}

// encodeBody turns a response body into its recorded form: embedded JSON
// when it is whole, valid JSON with a JSON (or no) content type; otherwise a
// JSON string, base64-encoded (encoding "base64") when it is not UTF-8. A
// form that JSON's escaping would make more than twice the body's size and
// 4 KiB (control characters and <, >, & take six bytes each) gives way to
// the next one, so that what is recorded stays within about twice the cap.
func encodeBody(body []byte, contentType string, truncated bool) (json.RawMessage, string) {
	if len(body) == 0 {
		return nil, ""
	}
	limit := 2*len(body) + 4<<10
	if !truncated && isJSONType(contentType) && json.Valid(body) && escapedLen(body, false) <= limit {
		return json.RawMessage(body), ""
	}
	if truncated {
		body = trimPartialRune(body)
	}
	if utf8.Valid(body) && escapedLen(body, true) <= limit {
		s, _ := json.Marshal(string(body))
		return s, ""
	}
	s, _ := json.Marshal(base64.StdEncoding.EncodeToString(body))
	return s, "base64"
}

// escapedLen is, without writing it, the size encoding/json gives valid
// UTF-8 b: as a JSON string (quotes, backslashes and control characters
// escaped), or at most that size as a JSON document embedded as it is
// (HTML escaping only): <, > and &, U+2028 and U+2029 take six bytes.
func escapedLen(b []byte, asString bool) int {
	n := len(b)
	if asString {
		n += 2 // the quotes
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRune(b[i:])
			if r == '\u2028' || r == '\u2029' {
				n += 6 - size
			}
			i += size
			continue
		}
		switch {
		case c == '<' || c == '>' || c == '&':
			n += 5
		case !asString:
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
			n++
		case c < 0x20:
			n += 5
		}
		i++
	}
	return n
}

func isJSONType(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// trimPartialRune drops an incomplete UTF-8 sequence that a cap cut off.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			return b
		}
	}
	return b
}

// Bounds on what is kept of a response's headers. The HTTP client refuses a
// response whose headers (1xx responses included) exceed
// MaxResponseHeaderBytes: that attempt fails. Of the headers of the others,
// at most MaxKeptHeaders names are kept, names of at most MaxHeaderName
// bytes, each value (repeated fields joined with ", ") cut to
// MaxHeaderValue bytes, and MaxKeptHeaderBytes of names and values in all,
// counted as recorded (JSON-escaped); a response that lost any is marked
// HeadersTruncated.
const (
	MaxResponseHeaderBytes = 256 << 10
	MaxKeptHeaders         = 64
	MaxHeaderName          = 256
	MaxHeaderValue         = 2 << 10
	MaxKeptHeaderBytes     = 16 << 10
)

// firstHeaders are kept before the others, which follow in name order: what
// a reader of the response most needs.
var firstHeaders = []string{"Content-Type", "Content-Length", "Retry-After", "Location", "Date"}

// keepHeaders records response headers as one string per name, within the
// bounds above, as valid UTF-8; it reports whether any were cut or left
// out. The choice is deterministic: priority names, then name order.
func keepHeaders(h http.Header) (map[string]string, bool) {
	if len(h) == 0 {
		return nil, false
	}
	names := make([]string, 0, len(h))
	for name := range h {
		if !slices.Contains(firstHeaders, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	names = append(slices.DeleteFunc(slices.Clone(firstHeaders), func(n string) bool { _, ok := h[n]; return !ok }), names...)
	out := make(map[string]string, min(len(names), MaxKeptHeaders))
	truncated, used := false, 0
	for _, name := range names {
		if len(out) == MaxKeptHeaders {
			return out, true
		}
		value, cut := cutUTF8(strings.Join(h[name], ", "), MaxHeaderValue)
		cost := jsonLen(name) + jsonLen(value)
		if len(name) > MaxHeaderName || used+cost > MaxKeptHeaderBytes {
			truncated = true
			continue
		}
		out[strings.ToValidUTF8(name, "\uFFFD")] = value
		used += cost
		truncated = truncated || cut
	}
	return out, truncated
}

// cutUTF8 returns s as valid UTF-8 (invalid bytes replaced) and at most
// limit bytes long, cut at a rune boundary, and whether it was cut.
func cutUTF8(s string, limit int) (string, bool) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= limit {
		return s, false
	}
	return string(trimPartialRune([]byte(s[:limit]))), true
}

// jsonLen is the size of s as a JSON string, without its quotes.
func jsonLen(s string) int {
	enc, _ := json.Marshal(s)
	return len(enc) - 2
}
