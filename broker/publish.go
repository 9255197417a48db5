package broker

import (
	"context"
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

// ErrUnavailable is returned when a publish got no answer from the stream
// in time, or was refused because the stream cannot take writes at the
// moment: its NATS server is unreachable, or a replicated stream is
// electing a leader or has lost its quorum. The event may or may not have
// been stored.
var ErrUnavailable = errors.New("broker: the event log is unavailable")

// Publisher publishes events asynchronously, so that concurrent publishes
// share the connection's flushes, and waits for JetStream's acknowledgement.
type Publisher struct {
	js   jetstream.JetStream
	last atomic.Uint64

	mu      sync.Mutex
	streams map[string]jetstream.Stream // handles, looked up once

	parker // far waits (schedule.go)

	// keyIdleTTL is how long an idle key's state outlives its last
	// change (keys_store.go).
	keyIdleTTL time.Duration
}

// NewPublisher returns a publisher on js. Bound its in-flight publishes with
// jetstream.WithPublishAsyncMaxPending when creating js.
func NewPublisher(js jetstream.JetStream) *Publisher {
	return &Publisher{js: js, streams: map[string]jetstream.Stream{}, parker: newParker(), keyIdleTTL: KeyIdleTTL}
}

// PublishEvent publishes v as JSON on the task subject and returns its
// stream sequence. It returns ErrConflict when opts include an expected
// last subject sequence that does not hold.
func (p *Publisher) PublishEvent(ctx context.Context, tenantID, taskID, kind string, v any, opts ...eventOpt) (uint64, error) {
	msg, err := p.eventMsg(tenantID, taskID, kind, v)
	if err != nil {
		return 0, err
	}
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
	msg, err := p.eventMsg(tenantID, taskID, kind, v)
	if err != nil {
		return err
	}
	_, err = p.js.PublishMsgAsync(msg)
	return err
}

// eventMsg is the message of a task event: v as JSON on its task subject,
// cut down to fit the stream when it records responses (see encodeFit).
func (p *Publisher) eventMsg(tenantID, taskID, kind string, v any) (*nats.Msg, error) {
	limit := p.maxData()
	if kind == KindCreated {
		// The task's due messages carry the same spec and a few fields
		// more: a task accepted must be one that can be scheduled.
		limit -= dueOverhead
	}
	data, err := encodeFit(v, limit)
	if err == nil && kind == KindCreated {
		err = fitsAsJSON(v, data, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("broker: encode %s: %w", kind, err)
	}
	msg := &nats.Msg{Data: data}
	eventSubject(msg, tenantID, taskID, kind)
	return msg, nil
}

// dueOverhead is what a task's due message may add to its created event.
const dueOverhead = 1 << 10

// maxData is the most data one message may carry: the connection's max
// payload (8 MiB embedded; 1 MiB by default on an external NATS), less room
// for the headers.
func (p *Publisher) maxData() int {
	return int(p.js.Conn().MaxPayload()) - messageHeadroom
}

// publish publishes msg and waits for its acknowledgement, returning its
// stream sequence, or ErrConflict when an expected last subject sequence
// in opts does not hold. The message carries the trace context of ctx,
// if it has one (trace.go).
func (p *Publisher) publish(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (uint64, error) {
	injectTrace(ctx, msg)
	fut, err := p.js.PublishMsgAsync(msg, opts...)
	if err != nil {
		return 0, publishError(msg.Subject, err)
	}
	select {
	case ack := <-fut.Ok():
		return ack.Sequence, nil
	case err := <-fut.Err():
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
			return 0, ErrConflict
		}
		return 0, publishError(msg.Subject, err)
	case <-ctx.Done():
		return 0, publishError(msg.Subject, ctx.Err())
	}
}

// publishError wraps a failed publish's err, marking it ErrUnavailable
// when the stream could not be reached or could not take the write: no
// acknowledgement in time, no stream answering, the connection lost while
// waiting (nats.go fails what waits when it reconnects), closed or backed
// up, or the server's own "temporarily unavailable" (code 503).
func publishError(subject string, err error) error {
	var apiErr *jetstream.APIError
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrAsyncPublishTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrTooManyStalledMsgs) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrReconnectBufExceeded) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrTimeout) ||
		(errors.As(err, &apiErr) && apiErr.Code == 503) {
		return fmt.Errorf("broker: publish %s: %w (%w)", subject, ErrUnavailable, err)
	}
	return fmt.Errorf("broker: publish %s: %w", subject, err)
}

// LastTaskSeq is the highest task-stream sequence this publisher has had
// acknowledged: a read that must see this node's writes waits for it.
func (p *Publisher) LastTaskSeq() uint64 { return p.last.Load() }

// eventOpt changes how one event is published.
type eventOpt func(msg *nats.Msg, opts *[]jetstream.PublishOpt)

// headerWebhook on a succeeded or failed event says whether the task has a
// webhook, so the deliverer can pass over the others without decoding them.
const headerWebhook = "Boomerang-Webhook"

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

// firstOnSubject puts the event on its task's own subject and makes the
// stream refuse it if that subject has one already: how a task id is
// claimed on every node at once.
func firstOnSubject() eventOpt {
	return func(msg *nats.Msg, opts *[]jetstream.PublishOpt) {
		ownSubject(msg)
		*opts = append(*opts, jetstream.WithExpectLastSequencePerSubject(0))
	}
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

// lastMsg reads a task's latest event of a kind straight from the stream.
// It reads with a direct get, which any replica of a replicated stream may
// answer, and a replica may not have stored yet what the leader has
// acknowledged: in a replicated stream, "no such message" is asked again
// of the leader (see leaderLastMsg).
func (p *Publisher) lastMsg(ctx context.Context, tenantID, taskID, kind string) (*jetstream.RawStreamMsg, error) {
	s, err := p.stream(ctx, StreamTasks)
	if err != nil {
		return nil, err
	}
	subject := taskSubject(tenantID, taskID, kind)
	msg, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) && s.CachedInfo().Config.Replicas > 1 {
		msg, err = leaderLastMsg(ctx, p.js.Conn(), StreamTasks, subject)
	}
	if err != nil {
		return nil, fmt.Errorf("broker: read %s event: %w", kind, err)
	}
	return msg, nil
}
