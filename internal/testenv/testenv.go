// Package testenv holds test helpers: scriptable HTTP targets, a webhook
// receiver that verifies every signature, a small API client, and an
// embedded JetStream for package tests. Everything is real: servers listen
// on 127.0.0.1, JetStream stores to a temp dir.
package testenv

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/signing"
)

// Call is one request a Target received.
type Call struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
	// Ended is when the target had answered, or the caller had gone away;
	// zero while the call runs.
	Ended time.Time
}

// Target is a task target whose answers a test scripts.
type Target struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []Call
	changed chan struct{} // closed, and replaced, at each call
}

// NewTarget starts a target; respond writes the answer to the n-th call
// (1-based) of the task that r is an attempt of, counted by its
// Boomerang-Task-Id header.
func NewTarget(tb testing.TB, respond func(w http.ResponseWriter, r *http.Request, n int)) *Target {
	tb.Helper()
	t := &Target{changed: make(chan struct{})}
	counts := map[string]int{}
	t.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		t.mu.Lock()
		i := len(t.calls)
		t.calls = append(t.calls, Call{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body, At: time.Now()})
		counts[r.Header.Get("Boomerang-Task-Id")]++
		n := counts[r.Header.Get("Boomerang-Task-Id")]
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
		respond(w, r, n)
		t.mu.Lock()
		t.calls[i].Ended = time.Now()
		t.mu.Unlock()
	}))
	tb.Cleanup(t.Close)
	return t
}

// Calls returns the calls received so far.
func (t *Target) Calls() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Call(nil), t.calls...)
}

// CallsFor returns the calls made for one task.
func (t *Target) CallsFor(taskID string) []Call {
	var out []Call
	for _, c := range t.Calls() {
		if c.Header.Get("Boomerang-Task-Id") == taskID {
			out = append(out, c)
		}
	}
	return out
}

// WaitCallsFor waits until the target has received n calls for one task,
// woken by each call; it gives up after GiveUpAfter.
func (t *Target) WaitCallsFor(tb testing.TB, taskID string, n int) []Call {
	tb.Helper()
	return t.waitCalls(tb, GiveUpAfter, n, func(c Call) bool { return c.Header.Get("Boomerang-Task-Id") == taskID })
}

// WaitCalls waits until the target has received n calls, failing the test
// after GiveUp(timeout).
func (t *Target) WaitCalls(tb testing.TB, n int, timeout time.Duration) []Call {
	tb.Helper()
	return t.waitCalls(tb, GiveUp(timeout), n, func(Call) bool { return true })
}

// waitCalls waits, woken by each call, until n calls match, and fails the
// test after giveUp.
func (t *Target) waitCalls(tb testing.TB, giveUp time.Duration, n int, match func(Call) bool) []Call {
	tb.Helper()
	timer := time.NewTimer(giveUp)
	defer timer.Stop()
	for {
		t.mu.Lock()
		var got []Call
		for _, c := range t.calls {
			if match(c) {
				got = append(got, c)
			}
		}
		changed := t.changed
		t.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-timer.C:
			tb.Fatalf("target got %d matching calls, want %d", len(got), n)
		}
	}
}

// Webhook is one webhook a Receiver got.
type Webhook struct {
	Header    http.Header
	Body      []byte
	VerifyErr error
	Event     WebhookEvent
	// Answered is the status the receiver answered with.
	Answered int
	// At is when it arrived.
	At time.Time
}

// WebhookEvent is a decoded webhook body.
type WebhookEvent struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		TaskID   string `json:"taskId"`
		Status   string `json:"status"`
		Attempts int    `json:"attempts"`
		Result   struct {
			StatusCode   int               `json:"statusCode"`
			Headers      map[string]string `json:"headers"`
			Body         json.RawMessage   `json:"body"`
			BodyEncoding string            `json:"bodyEncoding"`
			Error        string            `json:"error"`
		} `json:"result"`
	} `json:"data"`
}

// Receiver is a webhook endpoint that verifies every delivery with the
// tenant's secret and can be made to fail.
type Receiver struct {
	*httptest.Server
	secret signing.Secret
	mu     sync.Mutex
	got    []Webhook
	status int // answer; 0 means 204
}

// NewReceiver starts a receiver verifying with secret (whsec_...).
func NewReceiver(tb testing.TB, secret string) *Receiver {
	tb.Helper()
	s, err := signing.ParseSecret(secret)
	if err != nil {
		tb.Fatalf("receiver secret: %v", err)
	}
	r := &Receiver{secret: s}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		wh := Webhook{Header: req.Header.Clone(), Body: body, At: time.Now()}
		wh.VerifyErr = signing.Verify(req.Header, body, time.Now(), r.secret)
		_ = json.Unmarshal(body, &wh.Event)
		r.mu.Lock()
		status := r.status
		if status == 0 {
			status = http.StatusNoContent
		}
		wh.Answered = status
		r.got = append(r.got, wh)
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	tb.Cleanup(r.Close)
	return r
}

// Answer makes the receiver answer status from now on (0: 204).
func (r *Receiver) Answer(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = status
}

// Got returns the webhooks received so far.
func (r *Receiver) Got() []Webhook {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Webhook(nil), r.got...)
}

// For returns the webhooks received for a task.
func (r *Receiver) For(taskID string) []Webhook {
	var out []Webhook
	for _, w := range r.Got() {
		if w.Event.Data.TaskID == taskID {
			out = append(out, w)
		}
	}
	return out
}

// WaitFor waits until n webhooks for the task have arrived, failing the
// test after GiveUp(timeout).
func (r *Receiver) WaitFor(tb testing.TB, taskID string, n int, timeout time.Duration) []Webhook {
	tb.Helper()
	deadline := time.Now().Add(GiveUp(timeout))
	for time.Now().Before(deadline) {
		if got := r.For(taskID); len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("receiver got %d webhooks for %s, want %d", len(r.For(taskID)), taskID, n)
	return nil
}

// Client calls the Boomerang API. With a Contract, every exchange is
// checked against the API description.
type Client struct {
	Base     string
	Key      string
	HTTP     *http.Client
	Contract *Contract
}

// Response is an API answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it cannot.
func (r Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Do sends a request; body is JSON-encoded unless it is a string or []byte.
// headers are name, value pairs.
func (c *Client) Do(tb testing.TB, method, path string, body any, headers ...string) Response {
	tb.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		raw = data
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if c.Contract != nil {
		c.Contract.Check(tb, resp.Request, raw, resp.StatusCode, resp.Header, data)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// StartJetStream starts an embedded nats-server with JetStream in a temp
// dir and returns a JetStream client on it. configure, if given, changes
// the server's configuration first (a smaller MaxPayload, as an external
// NATS may have).
func StartJetStream(tb testing.TB, configure ...func(*natsembed.Config)) (jetstream.JetStream, *nats.Conn) {
	tb.Helper()
	cfg := natsembed.Config{Dir: tb.TempDir()}
	for _, c := range configure {
		c(&cfg)
	}
	srv, err := natsembed.Start(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	nc, err := srv.Connect()
	if err != nil {
		tb.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close(); srv.Shutdown() })
	return js, nc
}

// SecretKeys returns a keyring of one new key, for the tenant store and
// the token key, which seal their secrets with it.
func SecretKeys(tb testing.TB) *secretbox.Keyring {
	tb.Helper()
	key, err := secretbox.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := secretbox.Parse(key)
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

// FindSecret reports the first of secrets that data holds in any form
// it could be stored in: raw, in any base64 alphabet (padded or not, which
// covers "whsec_…"), or in hex. It returns the secret's index and the form
// found.
func FindSecret(data []byte, secrets ...[]byte) (int, string, bool) {
	for i, s := range secrets {
		forms := [][]byte{s, []byte(hex.EncodeToString(s))}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			forms = append(forms, []byte(enc.EncodeToString(s)))
		}
		for _, f := range forms {
			if bytes.Contains(data, f) {
				return i, string(f), true
			}
		}
	}
	return 0, "", false
}

// InGoroutine wraps tb for use on a goroutine other than the test's own:
// Fatal there reports the failure and ends only that goroutine, which is
// what testing allows (FailNow must be called from the test goroutine).
// The test goes on and fails at its end.
func InGoroutine(tb testing.TB) testing.TB { return goroutineTB{tb} }

type goroutineTB struct{ testing.TB }

func (g goroutineTB) FailNow() { g.Fail(); runtime.Goexit() }

func (g goroutineTB) Fatal(args ...any) { g.Error(args...); runtime.Goexit() }

func (g goroutineTB) Fatalf(format string, args ...any) { g.Errorf(format, args...); runtime.Goexit() }
