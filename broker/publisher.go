package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrConflict is returned when the stream refuses a publish because the
// subject already has a message: a task id that exists already.
var ErrConflict = errors.New("broker: subject already written")

// Publisher publishes events asynchronously, so that concurrent publishes
// share the connection's flushes, and waits for JetStream's acknowledgement.
type Publisher struct {
	js   jetstream.JetStream
	last atomic.Uint64

	mu      sync.Mutex
	streams map[string]jetstream.Stream // handles, looked up once
}

// NewPublisher returns a publisher on js. Bound its in-flight publishes with
// jetstream.WithPublishAsyncMaxPending when creating js.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{js: js, streams: map[string]jetstream.Stream{}}
}

// stream returns a handle on a stream, asking the server only the first time.
func (p *Publisher) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	p.mu.Lock()
	s, ok := p.streams[name]
	p.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := p.js.Stream(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	p.mu.Lock()
	p.streams[name] = s
	p.mu.Unlock()
	return s, nil
}

// canceledBefore reports whether the task has a cancel event before stream
// sequence seq, reading the stream itself rather than a view that may lag.
func (p *Publisher) canceledBefore(ctx context.Context, tenantID, taskID string, seq uint64) (bool, error) {
	msg, err := p.lastMsg(ctx, tenantID, taskID, KindCanceled)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return msg.Sequence < seq, nil
}

// lastMsg reads a task's latest event of a kind straight from the stream.
func (p *Publisher) lastMsg(ctx context.Context, tenantID, taskID, kind string) (*jetstream.RawStreamMsg, error) {
	s, err := p.stream(ctx, StreamTasks)
	if err != nil {
		return nil, err
	}
	msg, err := s.GetLastMsgForSubject(ctx, taskSubject(tenantID, taskID, kind))
	if err != nil {
		return nil, fmt.Errorf("broker: read %s event: %w", kind, err)
	}
	return msg, nil
}

// LastTaskSeq is the highest task-stream sequence this publisher has had
// acknowledged: a read that must see this node's writes waits for it.
func (p *Publisher) LastTaskSeq() uint64 { return p.last.Load() }

// headerWebhook on a succeeded or failed event says whether the task has a
// webhook, so the deliverer can pass over the others without decoding them.
const headerWebhook = "Boomerang-Webhook"

// eventOpt changes how one event is published.
type eventOpt func(msg *nats.Msg, opts *[]jetstream.PublishOpt)

// webhookHeader marks a terminal event with whether the task has a webhook.
func webhookHeader(has bool) eventOpt {
	value := "0"
	if has {
		value = "1"
	}
	return func(msg *nats.Msg, _ *[]jetstream.PublishOpt) {
		if msg.Header == nil {
			msg.Header = nats.Header{}
		}
		msg.Header.Set(headerWebhook, value)
	}
}

// firstOnSubject makes the stream refuse the event if its subject has one
// already: how a task id is claimed on every node at once.
func firstOnSubject() eventOpt {
	return func(_ *nats.Msg, opts *[]jetstream.PublishOpt) {
		*opts = append(*opts, jetstream.WithExpectLastSequencePerSubject(0))
	}
}

// PublishEvent publishes v as JSON on the task subject and returns its
// stream sequence. It returns ErrConflict when opts include an expected
// last subject sequence that does not hold.
func (p *Publisher) PublishEvent(ctx context.Context, tenantID, taskID, kind string, v any, opts ...eventOpt) (uint64, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("broker: encode %s: %w", kind, err)
	}
	msg := &nats.Msg{Subject: taskSubject(tenantID, taskID, kind), Data: data}
	var pubOpts []jetstream.PublishOpt
	for _, o := range opts {
		o(msg, &pubOpts)
	}
	seq, err := p.publish(ctx, msg, pubOpts...)
	if err != nil {
		return 0, err
	}
	for {
		cur := p.last.Load()
		if seq <= cur || p.last.CompareAndSwap(cur, seq) {
			break
		}
	}
	return seq, nil
}

// PublishEventNoWait publishes v without waiting for the acknowledgement.
// Order with later publishes on the same connection is kept; it is for
// informational events whose loss in a crash is harmless.
func (p *Publisher) PublishEventNoWait(tenantID, taskID, kind string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("broker: encode %s: %w", kind, err)
	}
	_, err = p.js.PublishMsgAsync(&nats.Msg{Subject: taskSubject(tenantID, taskID, kind), Data: data})
	return err
}

// Schedule publishes v to fire on due.<kind>.<tenant>.<task> at the given
// time. A newer schedule for the same task replaces an older one that has
// not fired.
func (p *Publisher) schedule(ctx context.Context, kind, tenantID, taskID string, at time.Time, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("broker: encode schedule: %w", err)
	}
	msg := nats.NewMsg(scheduleSubject(kind, tenantID, taskID))
	// nats.go's WithScheduleAt truncates to whole seconds; the server
	// parses fractions, so write the exact time ourselves.
	msg.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", dueSubject(kind, tenantID, taskID))
	msg.Data = data
	_, err = p.publish(ctx, msg)
	return err
}

// unschedule removes a pending schedule, if there is one.
func (p *Publisher) unschedule(ctx context.Context, kind, tenantID, taskID string) error {
	s, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(scheduleSubject(kind, tenantID, taskID))); err != nil {
		return fmt.Errorf("broker: unschedule: %w", err)
	}
	return nil
}

func (p *Publisher) publish(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (uint64, error) {
	fut, err := p.js.PublishMsgAsync(msg, opts...)
	if err != nil {
		return 0, fmt.Errorf("broker: publish %s: %w", msg.Subject, err)
	}
	select {
	case ack := <-fut.Ok():
		return ack.Sequence, nil
	case err := <-fut.Err():
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("broker: publish %s: %w", msg.Subject, err)
	case <-ctx.Done():
		return 0, fmt.Errorf("broker: publish %s: %w", msg.Subject, ctx.Err())
	}
}

// lastCreated reads a task's created event straight from the stream, for a
// task another node may have created a moment ago.
func (p *Publisher) lastCreated(ctx context.Context, tenantID, taskID string) (*createdEvent, error) {
	msg, err := p.lastMsg(ctx, tenantID, taskID, KindCreated)
	if err != nil {
		return nil, err
	}
	var ev createdEvent
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		return nil, fmt.Errorf("broker: decode created event: %w", err)
	}
	return &ev, nil
}
