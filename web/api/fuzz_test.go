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
		for k, v := range spec.Headers {
			if strings.ContainsAny(k+v, "\r\n") {
				t.Fatalf("accepted a header with CR/LF: %q: %q", k, v)
			}
		}
	})
}
