package api

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/web/problem"
)

// readSpy fails the test if the body is read.
type readSpy struct{ t *testing.T }

func (r readSpy) Read([]byte) (int, error) {
	r.t.Error("the body was read")
	return 0, io.EOF
}

func TestDecodeJSON(t *testing.T) {
	const ok = `{"targetUrl":"https://e.com"}`
	tests := []struct {
		name        string
		body        string
		contentType string
		status      int    // 0: accepted
		detail      string // part of the problem's detail
		field       string // the field named in its errors, if any
	}{
		{"an object", ok, "application/json", 0, "", ""},
		{"with charset", ok, "application/json; charset=utf-8", 0, "", ""},
		{"no content type", " \n" + ok + "\n ", "", 0, "", ""},
		{"trailing brace", ok + "}", "", 400, "data after the JSON object", ""},
		{"trailing bracket", ok + "]", "", 400, "data after the JSON object", ""},
		{"second object", ok + ` {}`, "", 400, "data after the JSON object", ""},
		{"case variant", `{"targetURL":"https://e.com"}`, "", 400, "One or more fields", "targetURL"},
		{"case variant and trailing brace", `{"targetURL":"https://e.com"}}`, "", 400, "data after the JSON object", ""},
		{"case variant and trailing bracket", `{"targetURL":"https://e.com"}]`, "", 400, "data after the JSON object", ""},
		{"unknown field", `{"targetUrl":"https://e.com","extra":1}`, "", 400, "One or more fields", "extra"},
		{"a name given twice", `{"targetUrl":"https://e.com","targetUrl":"https://evil.example"}`, "", 400, "One or more fields", "targetUrl"},
		{"a header given twice", `{"targetUrl":"https://e.com","headers":{"X-A":"1","X-A":"2"}}`, "", 400, "One or more fields", "headers.X-A"},
		{"a name twice in the payload", `{"targetUrl":"https://e.com","payload":{"a":1,"a":[2]}}`, "", 0, "", ""},
		{"a lone surrogate", `{"targetUrl":"https://e.com","payload":"\ud800"}`, "", 0, "", ""},
		{"wrong content type", ok, "text/plain", 415, "application/json", ""},
		{"a longer media type", ok, "application/jsonp", 415, "application/json", ""},
		{"UTF-16", ok, "application/json; charset=utf-16", 415, "application/json", ""},
		{"a +json type", ok, "application/vnd.api+json", 0, "", ""},
		{"charset in capitals", ok, "application/json; charset=UTF-8", 0, "", ""},
		{"empty body", "", "", 400, "empty", ""},
		{"white space", " \t\r\n", "", 400, "empty", ""},
		{"an array", `[1,2]`, "", 400, "must be a JSON object", ""},
		{"null", `null`, "", 400, "must be a JSON object", ""},
		{"a string", `"x"`, "", 400, "must be a JSON object", ""},
		{"a number", `1`, "", 400, "must be a JSON object", ""},
		{"truncated", `{"targetUrl": `, "", 400, "ends in the middle", ""},
		{"bad syntax", `{"targetUrl" 1}`, "", 400, "not valid JSON (at byte 14)", ""},
		{"wrong type", `{"targetUrl": 12}`, "", 400, "One or more fields", "targetUrl"},
		{"number too big", `{"retries": 1e999}`, "", 400, "One or more fields", "retries"},
		{"not UTF-8", "{\"targetUrl\": \"\xff\"}", "", 400, "UTF-8", ""},
		{"too large", `{"payload": "` + strings.Repeat("x", 100) + `"}`, "", 413, "exceeds 64 bytes", ""},
	}
	d := &decoder{maxBody: 64}
	e := echo.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tt.body)
			if tt.status == http.StatusUnsupportedMediaType {
				body = readSpy{t}
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/tasks", body)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			var v TaskRequest
			raw, err := d.decodeJSON(e.NewContext(req, httptest.NewRecorder()), &v)
			if tt.status == 0 {
				if err != nil || !bytes.Equal(raw, []byte(tt.body)) || v.TargetURL == nil || *v.TargetURL != "https://e.com" {
					t.Fatalf("got %q, %+v, %v; want the body and the target", raw, v, err)
				}
				return
			}
			if err == nil || raw != nil {
				t.Fatalf("got %q, %v; want an error and no body", raw, err)
			}
			p, internal := problem.For(err, req, 64)
			if internal {
				t.Fatalf("got %v, which answers 500; want a problem", err)
			}
			if p.Status != tt.status || !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("got %d %q, want %d with %q", p.Status, p.Detail, tt.status, tt.detail)
			}
			if tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors %+v, want one naming %q", p.Errors, tt.field)
			}
		})
	}
}
