package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/signing"
)

func TestClassifyStatus(t *testing.T) {
	t.Parallel()
	tests := map[int]broker.Outcome{
		200: broker.OutcomeSucceeded, 201: broker.OutcomeSucceeded, 204: broker.OutcomeSucceeded,
		301: broker.OutcomeFailed, 400: broker.OutcomeFailed, 401: broker.OutcomeFailed, 404: broker.OutcomeFailed, 422: broker.OutcomeFailed,
		408: broker.OutcomeRetry, 425: broker.OutcomeRetry, 429: broker.OutcomeRetry,
		500: broker.OutcomeRetry, 502: broker.OutcomeRetry, 503: broker.OutcomeRetry, 504: broker.OutcomeRetry,
	}
	for code, want := range tests {
		if got := ClassifyStatus(code); got != want {
			t.Errorf("%d: got %s, want %s", code, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 5 ", 5 * time.Second, true},
		{"0", 0, true},
		{"Thu, 01 Jan 2026 00:01:00 GMT", time.Minute, true},
		{"Wed, 31 Dec 2025 23:00:00 GMT", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%q: got %s %v, want %s %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "Thu, 01 Jan 2026 00:01:00 GMT", "-1", "", "1e9", "Mon, 02 Jan 2006 15:04:05 MST"} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if ok && d < 0 {
			t.Fatalf("%q: negative %s", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("%q: not ok but %s", s, d)
		}
	})
}

func TestEncodeBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, contentType string
		truncated               bool
		want, encoding          string
	}{
		{"json embedded", `{"a": 1}`, "application/json; charset=utf-8", false, `{"a": 1}`, ""},
		{"problem+json embedded", `{"a":1}`, "application/problem+json", false, `{"a":1}`, ""},
		{"text as string", `hello`, "text/plain", false, `"hello"`, ""},
		{"json-looking text stays text", `123`, "text/plain", false, `"123"`, ""},
		{"truncated json becomes string", `{"a": 1`, "application/json", true, `"{\"a\": 1"`, ""},
		{"binary as base64", "\xff\xfe\x00", "application/octet-stream", false, `"//4A"`, "base64"},
		{"cut rune trimmed", "h\xc3", "text/plain", true, `"h"`, ""},
		{"empty", "", "application/json", false, "", ""},
		{"html stays text", "<p>a</p>", "text/html", false, `"\u003cp\u003ea\u003c/p\u003e"`, ""},
		{"a few control characters stay text", "\x01\x02", "text/plain", false, `"\u0001\u0002"`, ""},
	}
	for _, tt := range tests {
		got, enc := encodeBody([]byte(tt.body), tt.contentType, tt.truncated)
		if string(got) != tt.want || enc != tt.encoding {
			t.Errorf("%s: got %s %q, want %s %q", tt.name, got, enc, tt.want, tt.encoding)
		}
		if len(got) > 0 && !json.Valid(got) {
			t.Errorf("%s: %s is not valid JSON", tt.name, got)
		}
	}
}

// TestEncodeBodyBoundsEscaping: a body JSON would escape six-fold is kept
// in base64, so that what is recorded stays within twice the body and 4 KiB.
func TestEncodeBodyBoundsEscaping(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		body, contentType, encoding string
	}{
		"control characters":    {strings.Repeat("\x01", 10<<10), "text/plain", "base64"},
		"markup only":           {strings.Repeat("<>", 5<<10), "text/html", "base64"},
		"JSON of markup":        {`"` + strings.Repeat("<", 10<<10) + `"`, "application/json", "base64"},
		"an ordinary HTML page": {strings.Repeat("<p>Service unavailable, try again in a minute.</p>\n", 400), "text/html", ""},
	} {
		got, enc := encodeBody([]byte(tt.body), tt.contentType, false)
		if enc != tt.encoding || len(got) > 2*len(tt.body)+4<<10 {
			t.Errorf("%s: got %d bytes encoded %q, want %q within twice the body", name, len(got), enc, tt.encoding)
		}
	}
}

func TestTaskBackoff(t *testing.T) {
	t.Parallel()
	p := DefaultRetryPolicy()
	for attempt, base := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: 512 * time.Second, 20: time.Hour} {
		for range 50 {
			d := p.TaskBackoff(attempt, 0)
			lo, hi := time.Duration(float64(base)*0.8), time.Duration(float64(base)*1.2)
			if d < lo || d > hi {
				t.Fatalf("attempt %d: got %s, want within %s..%s", attempt, d, lo, hi)
			}
		}
	}
	if d := p.TaskBackoff(1, 90*time.Second); d != 90*time.Second {
		t.Errorf("Retry-After: got %s, want 90s", d)
	}
	if d := p.TaskBackoff(1, 48*time.Hour); d != 24*time.Hour {
		t.Errorf("Retry-After above the cap: got %s, want 24h", d)
	}
}

func TestWebhookBackoff(t *testing.T) {
	t.Parallel()
	p := DefaultRetryPolicy()
	if d, ok := p.WebhookBackoff(0); !ok || d != 0 {
		t.Errorf("first delivery: got %s %v, want immediately", d, ok)
	}
	if d, ok := p.WebhookBackoff(2); !ok || d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("third delivery: got %s %v, want about 5m", d, ok)
	}
	if _, ok := p.WebhookBackoff(len(DefaultWebhookSchedule())); ok {
		t.Error("past the schedule: got ok, want the end")
	}
}

type staticSecrets []signing.Secret

func (s staticSecrets) SigningSecrets(string) ([]signing.Secret, error) { return s, nil }

func TestCallerCapsBodyAndSigns(t *testing.T) {
	t.Parallel()
	secret, _ := signing.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	var got *http.Request
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got, gotBody = r, string(b)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(strings.Repeat("é", 100)))
	}))
	defer srv.Close()
	c := NewCaller(NewHTTPClient(Guard{AllowPrivate: true}, ClientOptions{}), staticSecrets{secret}, 51, nil)
	res := c.Call(context.Background(), broker.CallRequest{TenantID: "t", TaskID: "tsk_1", Attempt: 2, Spec: broker.Spec{
		TargetURL: srv.URL, Method: "POST", Payload: json.RawMessage(`{"x":1}`), Timeout: 5,
	}})
	if res.Outcome != broker.OutcomeSucceeded || !res.BodyTruncated {
		t.Fatalf("result: got %+v, want success with a truncated body", res)
	}
	var s string
	if err := json.Unmarshal(res.Body, &s); err != nil || s != strings.Repeat("é", 25) {
		t.Fatalf("body: got %s, want 25 whole runes", res.Body)
	}
	if err := signing.Verify(got.Header, []byte(gotBody), time.Now(), secret); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if got.Header.Get(HeaderAttempt) != "2" || got.Header.Get(HeaderTaskID) != "tsk_1" {
		t.Fatalf("headers: got %v", got.Header)
	}
}

func TestCallerRefusesBlockedAddressAtDialTime(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the guard let a call to loopback through")
	}))
	defer srv.Close()
	c := NewCaller(NewHTTPClient(Guard{}, ClientOptions{}), staticSecrets{make(signing.Secret, 32)}, 0, nil)
	res := c.Call(context.Background(), broker.CallRequest{TenantID: "t", TaskID: "tsk_1", Attempt: 1, Spec: broker.Spec{
		TargetURL: srv.URL, Method: "GET", Timeout: 5,
	}})
	if res.Outcome != broker.OutcomeFailed || !strings.Contains(res.Error, "blocked") {
		t.Fatalf("got %+v, want a permanent failure naming the blocked network", res)
	}
}

// FuzzEscapedLen checks escapedLen against encoding/json itself: exact for
// a string, an upper bound for a JSON document, which compacting shrinks.
func FuzzEscapedLen(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\s`, "\n\r\t\x00\x1f", "<a>&b", "\u2028\u2029é", `{"a": "<b>", "c": [1, 2]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		enc, _ := json.Marshal(s)
		if got := escapedLen([]byte(s), true); got != len(enc) {
			t.Fatalf("%q as a string: escapedLen %d, encoding/json %d", s, got, len(enc))
		}
		if json.Valid([]byte(s)) {
			enc, _ := json.Marshal(json.RawMessage(s))
			if got := escapedLen([]byte(s), false); got < len(enc) {
				t.Fatalf("%q embedded: escapedLen %d, under encoding/json's %d", s, got, len(enc))
			}
		}
	})
}
