package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// EventOption changes an event stream.
type EventOption func(*eventStream)

// After starts the stream after the event with this sequence (Event.Seq),
// as a reconnecting stream does.
func After(seq uint64) EventOption {
	return func(s *eventStream) { s.last, s.resume = seq, true }
}

// TaskEvents streams the changes of task id, from its creation (or after
// After) until it has settled: finished, and its webhook, if any,
// delivered or dead-lettered. A dropped connection is reopened where it
// left off (Last-Event-ID), so no event is missed or repeated; so is a 429
// or 503, after its Retry-After. Any other problem, or ctx's end, is
// yielded as an error and ends the stream.
func (c *Client) TaskEvents(ctx context.Context, id string, opts ...EventOption) iter.Seq2[Event, error] {
	s := &eventStream{c: c, path: taskPath(id, "events"), settled: func(ctx context.Context) (bool, error) {
		t, err := c.GetTask(ctx, id)
		if err != nil {
			return false, err
		}
		return t.Settled(), nil
	}}
	return s.run(ctx, opts)
}

// TenantEvents streams the changes of all the tenant's tasks, from now on
// (or after After), until ctx ends (yielded as an error) or the loop
// stops. Dropped connections are reopened as TaskEvents does.
func (c *Client) TenantEvents(ctx context.Context, opts ...EventOption) iter.Seq2[Event, error] {
	return (&eventStream{c: c, path: "/v1/events"}).run(ctx, opts)
}

// eventStream is an event stream that resumes after its last event.
type eventStream struct {
	c      *Client
	path   string
	last   uint64
	resume bool // send last as Last-Event-ID
	// settled, for a task's stream, says whether it will change no more.
	settled func(context.Context) (bool, error)
}

// Reconnection waits: doubling from the first to the last.
const (
	firstRetry = 100 * time.Millisecond
	lastRetry  = 5 * time.Second
)

func (s *eventStream) run(ctx context.Context, opts []EventOption) iter.Seq2[Event, error] {
	for _, o := range opts {
		o(s)
	}
	return func(yield func(Event, error) bool) {
		wait := firstRetry
		for {
			got, clean, stopped, err := s.connect(ctx, yield)
			if stopped {
				return
			}
			retry, err := s.next(ctx, clean, err)
			switch {
			case errors.Is(err, errStreamDone):
				return
			case err != nil:
				yield(Event{}, err)
				return
			case got > 0 && retry == 0:
				wait = firstRetry // it was working: reconnect at once
				continue
			}
			if serr := sleep(ctx, max(retry, wait)); serr != nil {
				yield(Event{}, serr)
				return
			}
			wait = min(2*wait, lastRetry)
		}
	}
}

// errStreamDone ends a stream that is complete.
var errStreamDone = errors.New("stream complete")

// next decides what follows the end of a connection: how long the server
// asks to wait before reconnecting, or an error that ends the stream
// (errStreamDone when a task's stream is complete).
func (s *eventStream) next(ctx context.Context, clean bool, err error) (time.Duration, error) {
	var p *Problem
	switch {
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case errors.As(err, &p) && (p.Status == http.StatusTooManyRequests || p.Status >= 500):
		return p.RetryAfter, nil
	case err != nil && p != nil:
		return 0, err // refused: reconnecting would not help
	case s.settled == nil:
		return 0, nil
	}
	done, serr := s.settled(ctx)
	var sp *Problem
	if errors.As(serr, &sp) && sp.Status < 500 && sp.Status != http.StatusTooManyRequests {
		return 0, serr
	}
	if done && clean {
		return 0, errStreamDone
	}
	return 0, nil
}

// connect opens the stream and yields its events until it ends. got
// counts them; clean says the server ended it; stopped that the consumer
// (or a complete stream) stopped the sequence.
func (s *eventStream) connect(ctx context.Context, yield func(Event, error) bool) (got int, clean, stopped bool, err error) {
	r := request{method: http.MethodGet, path: s.path, header: http.Header{"Accept": {"text/event-stream"}}}
	if s.resume {
		r.header.Set("Last-Event-ID", strconv.FormatUint(s.last, 10))
	}
	req, err := s.c.newRequest(ctx, r)
	if err != nil {
		return 0, false, false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := s.c.http.Do(req)
	if err != nil {
		return 0, false, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, false, false, problemOf(resp, body)
	}
	err = readEvents(resp.Body, func(e Event) bool {
		got++
		s.last, s.resume = e.Seq, true
		return yield(e, nil)
	})
	if errors.Is(err, errStopped) {
		return got, false, true, nil
	}
	return got, err == nil, false, err
}

// errStopped ends reading when the consumer stops.
var errStopped = errors.New("stopped")

// readEvents parses Server-Sent Events from r and calls fn with each,
// until r ends (nil), fails, or fn returns false (errStopped). Comments
// (heartbeats) are skipped.
func readEvents(r io.Reader, fn func(Event) bool) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxAnswer)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			var e Event
			if err := json.Unmarshal([]byte(data.String()), &e); err != nil {
				return fmt.Errorf("boomerang: decode event: %w", err)
			}
			data.Reset()
			if !fn(e) {
				return errStopped
			}
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return sc.Err()
}
