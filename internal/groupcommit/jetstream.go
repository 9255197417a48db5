package groupcommit

import (
	"context"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream returns js whose acknowledgements mean "on disk", as they do
// with SyncAlways: Publish and PublishMsg return, and the futures of
// PublishAsync and PublishMsgAsync deliver their acknowledgement, only
// once a round has synced the stream. A future nobody reads (a publish
// whose loss in a crash is harmless) costs no wait. Everything else is
// js's own.
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

// synced returns a func that waits until an acknowledged publish is on
// disk.
func (d durableJS) synced(ctx context.Context) func(*jetstream.PubAck, error) (*jetstream.PubAck, error) {
	return func(ack *jetstream.PubAck, err error) (*jetstream.PubAck, error) {
		if err != nil {
			return ack, err
		}
		if err := d.c.Sync(ctx, ack.Stream); err != nil {
			return nil, err
		}
		return ack, nil
	}
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
		select {
		case ack := <-f.PubAckFuture.Ok():
			if err := f.c.Sync(context.Background(), ack.Stream); err != nil {
				f.errCh <- err
				return
			}
			f.ok <- ack
		case err := <-f.PubAckFuture.Err():
			f.errCh <- err
		}
	}()
}
