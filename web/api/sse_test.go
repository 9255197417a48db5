package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// streamDeadline bounds how long a test waits on an event stream: only for
// giving up, never to decide a pass.
const streamDeadline = testenv.GiveUpAfter

// sse is an event stream a test holds open.
type sse struct {
	resp   *http.Response
	ctx    context.Context
	cancel context.CancelFunc
	lines  *bufio.Scanner
}

// sseEvent is one event, or a heartbeat comment, as read off the wire.
type sseEvent struct {
	ID, Type  string
	Data      broker.Event
	Raw       string // the data line as sent
	Heartbeat bool
}

// openSSE sends a GET with the headers (name, value pairs) on client
// (http.DefaultClient when nil) and returns once the answer's headers have
// arrived, whatever its status. The stream closes at cleanup.
func openSSE(t *testing.T, client *http.Client, url string, headers ...string) *sse {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(context.Background(), streamDeadline)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	s := &sse{resp: resp, ctx: ctx, cancel: cancel, lines: bufio.NewScanner(resp.Body)}
	t.Cleanup(s.close)
	return s
}

// close ends the stream from the client's side.
func (s *sse) close() {
	s.cancel()
	_ = s.resp.Body.Close()
}

// body reads the rest of the answer (a problem's body).
func (s *sse) body() []byte {
	b, _ := io.ReadAll(s.resp.Body)
	return b
}

// next returns the next event or heartbeat; false when the stream ended.
func (s *sse) next(t *testing.T) (sseEvent, bool) {
	t.Helper()
	var e sseEvent
	for s.lines.Scan() {
		line := s.lines.Text()
		switch {
		case line == "" && (e.Type != "" || e.Heartbeat):
			return e, true
		case strings.HasPrefix(line, ":"):
			e.Heartbeat = true
		case strings.HasPrefix(line, "id: "):
			e.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			e.Type = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.Raw = strings.TrimPrefix(line, "data: ")
			if err := json.Unmarshal([]byte(e.Raw), &e.Data); err != nil {
				t.Fatalf("event data %q: %v", e.Raw, err)
			}
		}
	}
	return e, false
}

// waitEnd reads the stream until the server ends it, failing if the
// deadline comes first; it returns what was read.
func (s *sse) waitEnd(t *testing.T) []sseEvent {
	t.Helper()
	var got []sseEvent
	for {
		e, ok := s.next(t)
		if !ok {
			break
		}
		got = append(got, e)
	}
	if s.ctx.Err() != nil {
		t.Fatalf("the stream did not end within %s (read %d events and heartbeats)", streamDeadline, len(got))
	}
	return got
}

// waitHeartbeat reads until a heartbeat comment, failing if the stream ends.
func (s *sse) waitHeartbeat(t *testing.T) {
	t.Helper()
	for {
		e, ok := s.next(t)
		if !ok {
			t.Fatalf("the stream ended (deadline passed: %v) before a heartbeat", s.ctx.Err() != nil)
		}
		if e.Heartbeat {
			return
		}
	}
}
