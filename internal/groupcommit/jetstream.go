package groupcommit

import (
	"context"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream returns js whose acknowledgements mean "on disk", as they do
// with SyncAlways: Publish and PublishMsg return, and the futures of
// PublishAsync and PublishMsgAsync deliver their acknowledgement, only
// once a round has synced the stream. A refusal by the stream (a
// *jetstream.APIError, such as an expected last sequence that does not
// hold) is returned only after a round too, so that what the stream holds
// instead, which the caller may read and answer with (an idempotent
// create's first task), is on disk as well. A future nobody reads (a
// publish whose loss in a crash is harmless) costs no wait. Everything
// else is js's own.
func (c *Committer) JetStream(js jetstream.JetStream) jetstream.JetStream {
	return durableJS{JetStream: js, c: c}
}

type durableJS struct {
	jetstream.JetStream
	c *Committer
}

func (d durableJS) Publish(ctx context.Context, subject string, payload []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return d.synced(ctx)(d.JetStream.Publish(ctx, subject, payload, opts...))
}

func (d durableJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	return d.synced(ctx)(d.JetStream.PublishMsg(ctx, msg, opts...))
}

// synced returns a func that waits until a publish's outcome is on disk.
func (d durableJS) synced(ctx context.Context) func(*jetstream.PubAck, error) (*jetstream.PubAck, error) {
	return func(ack *jetstream.PubAck, err error) (*jetstream.PubAck, error) {
		return d.c.settle(ctx, ack, err)
	}
}

// settle waits until the outcome of a publish is on disk: an acknowledged
// message, or, when the stream refused it, whatever the stream held then.
// Other errors (no answer) are returned at once.
func (c *Committer) settle(ctx context.Context, ack *jetstream.PubAck, err error) (*jetstream.PubAck, error) {
	var apiErr *jetstream.APIError
	switch {
	case err == nil:
		if err := c.Sync(ctx, ack.Stream); err != nil {
			return nil, err
		}
		return ack, nil
	case errors.As(err, &apiErr):
		if err := c.Sync(ctx); err != nil {
			return nil, err
		}
	}
	return ack, err
}

func (d durableJS) PublishAsync(subject string, payload []byte, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	f, err := d.JetStream.PublishAsync(subject, payload, opts...)
	if err != nil {
		return nil, err
	}
	return &durableFuture{PubAckFuture: f, c: d.c}, nil
}

func (d durableJS) PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	f, err := d.JetStream.PublishMsgAsync(msg, opts...)
	if err != nil {
		return nil, err
	}
	return &durableFuture{PubAckFuture: f, c: d.c}, nil
}

// durableFuture delivers its publish's acknowledgement once the stream is
// synced. It starts waiting when first asked for its result.
type durableFuture struct {
	jetstream.PubAckFuture
	c     *Committer
	once  sync.Once
	ok    chan *jetstream.PubAck
	errCh chan error
}

func (f *durableFuture) Ok() <-chan *jetstream.PubAck {
	f.once.Do(f.start)
	return f.ok
}

func (f *durableFuture) Err() <-chan error {
	f.once.Do(f.start)
	return f.errCh
}

func (f *durableFuture) start() {
	f.ok, f.errCh = make(chan *jetstream.PubAck, 1), make(chan error, 1)
	go func() {
		var ack *jetstream.PubAck
		var err error
		select {
		case ack = <-f.PubAckFuture.Ok():
		case err = <-f.PubAckFuture.Err():
		}
		if ack, err = f.c.settle(context.Background(), ack, err); err != nil {
			f.errCh <- err
			return
		}
		f.ok <- ack
	}()
}
