package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/http/httpguts"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// FuzzCreateTaskBody feeds arbitrary bodies through the create decoder and
// validator: they must never panic, whatever they accept must be a single
// JSON object, and a task the dispatcher can run.
func FuzzCreateTaskBody(f *testing.F) {
	for _, seed := range []string{
		`{"targetUrl": "https://example.com/x"}`,
		`{"targetUrl": "https://example.com/x", "method": "put", "headers": {"X-A": "b"}, "payload": {"a": [1, 2]}, "webhookUrl": "https://h.example", "retries": 25, "timeout": 900, "delay": 10}`,
		`{"targetUrl": "https://example.com", "notBefore": "2030-01-01T00:00:00Z"}`,
		`{"targetUrl": 1}`, `[]`, `null`, `{"retries": 1e999}`, `{"targetUrl": "http://[::1"}`,
		"{\"targetUrl\": \"https://e.com\", \"headers\": {\"X\": \"a\\r\\nB: c\"}}",
		"{\"targetUrl\": \"https://e.com/\xff\xfe\"}", strings.Repeat("[", 20000),
		`{"targetUrl":"https://e.com"}]`, `{"targetURL":"https://e.com"}}`, `{"targetUrl":"https://e.com"}{}`,
		`{"targetUrl": "https://e.com", "payload": "a=1&b=2", "contentType": "application/x-www-form-urlencoded"}`,
		`{"targetUrl": "https://e.com", "payload": {"a": 1}, "contentType": "text/plain"}`,
		`{"targetUrl": "https://e.com", "payloadBase64": "AP8=", "contentType": "image/png"}`,
		`{"targetUrl": "https://e.com", "payload": 1, "payloadBase64": "AA=="}`,
		`{"targetUrl": "https://e.com", "payload": "x", "contentType": "text/plain", "headers": {"content-type": "a/b"}}`,
		`{"targetUrl": "https://e.com", "headers": {"X-A": "1", "x-a": "2"}}`,
		`{"targetUrl": "https://e.com", "headers": {"X-A": "1", "X-A": "2"}}`,
		`{"targetUrl": "https://e.com", "targetUrl": "https://f.com"}`,
		`{"targetUrl": "https://e.com:65536/#x", "webhookUrl": "https://a..b/"}`,
		`{"targetUrl": "https://bücher.example/?q=%zz"}`,
		"{\"targetUrl\": \"https://e.com\", \"payload\": { \"q\" : \"<a&b>\", \"n\": 1.0e2, \"q\": [] }}",
	} {
		f.Add([]byte(seed))
	}
	a := New(Config{Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	e := echo.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/v1/tasks", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		c := e.NewContext(req, httptest.NewRecorder())
		var in TaskRequest
		raw, err := a.decoder.decodeJSON(c, &in)
		if err != nil {
			if p, internal := problem.For(err, req, a.limits.MaxBody); internal || p.Status >= 500 {
				t.Fatalf("decode error %v answers %d, not a client error", err, p.Status)
			}
			return
		}
		if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) || !bytes.Equal(raw, body) {
			t.Fatalf("accepted a body that is not a single JSON object: %q", body)
		}
		spec, errs := a.validator.Task(in, "")
		if len(errs) > 0 {
			return
		}
		u, err := url.Parse(spec.TargetURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			t.Fatalf("accepted target %q", spec.TargetURL)
		}
		if spec.Retries < 0 || spec.Retries > 25 || spec.Timeout <= 0 || spec.Timeout > 900 || !allowedMethods[spec.Method] {
			t.Fatalf("accepted out-of-range spec %+v", spec)
		}
		names := map[string]bool{}
		for k, v := range spec.Headers {
			if strings.ContainsAny(k+v, "\r\n") {
				t.Fatalf("accepted a header with CR/LF: %q: %q", k, v)
			}
			if names[strings.ToLower(k)] {
				t.Fatalf("accepted headers that differ only in case: %v", spec.Headers)
			}
			names[strings.ToLower(k)] = true
		}
		checkAcceptedPayload(t, body, in, spec)
		if p := u.Port(); p != "" && (p == "0" || len(p) > 5) || strings.Contains(spec.TargetURL, "#") {
			t.Fatalf("accepted target %q", spec.TargetURL)
		}
	})
}

// checkAcceptedPayload fails unless an accepted payload is one the target
// can be sent as the request wrote it.
func checkAcceptedPayload(t *testing.T, body []byte, in TaskRequest, spec broker.Spec) {
	t.Helper()
	if spec.Payload != nil && spec.PayloadBase64 != nil {
		t.Fatalf("accepted payload and payloadBase64: %q", body)
	}
	if spec.Payload != nil && (!bytes.Equal(spec.Payload, in.Payload) || !bytes.Contains(body, spec.Payload)) {
		t.Fatalf("the payload %q is not as the request %q wrote it", spec.Payload, body)
	}
	if spec.PayloadBase64 != nil && len(spec.PayloadBase64) == 0 {
		t.Fatalf("accepted an empty payloadBase64: %q", body)
	}
	data, ct := spec.Body()
	switch {
	case spec.Payload == nil && spec.PayloadBase64 == nil:
		if data != nil || spec.ContentType != "" {
			t.Fatalf("no payload, yet a body %q or a content type %q", data, spec.ContentType)
		}
	case ct == "" || !httpguts.ValidHeaderFieldValue(ct):
		t.Fatalf("accepted a payload sent with the content type %q", ct)
	case spec.ContentType != "" && !broker.IsJSONContentType(spec.ContentType) && spec.PayloadBase64 == nil:
		var text string
		if json.Unmarshal(spec.Payload, &text) != nil || string(data) != text {
			t.Fatalf("text payload %q is sent as %q", spec.Payload, data)
		}
	}
}
