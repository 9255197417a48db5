package delivery

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"net/http"
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
// JSON string, base64-encoded (encoding "base64") when it is not UTF-8.
func encodeBody(body []byte, contentType string, truncated bool) (json.RawMessage, string) {
	if len(body) == 0 {
		return nil, ""
	}
	if !truncated && isJSONType(contentType) && json.Valid(body) {
		return json.RawMessage(body), ""
	}
	if truncated {
		body = trimPartialRune(body)
	}
	if utf8.Valid(body) {
		s, _ := json.Marshal(string(body))
		return s, ""
	}
	s, _ := json.Marshal(base64.StdEncoding.EncodeToString(body))
	return s, "base64"
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

// flattenHeaders records response headers as one string per name.
func flattenHeaders(h http.Header) map[string]string {
	if len(h) == 0 {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = strings.Join(v, ", ")
	}
	return out
}
