package api

import (
	"context"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
)

// eventStream is one stream of events, whatever carries it (Server-Sent
// Events or a WebSocket). watch registers for the next change; read
// returns the events after a sequence and whether the stream is complete.
// public, when set, is the spec of the task a status token reads: its
// events are made public with it. wide says that the stream carries all
// the tenant's events.
type eventStream struct {
	after  uint64
	watch  func() (<-chan struct{}, func())
	read   func(after uint64) ([]broker.Event, bool, error)
	public *broker.Spec
	wide   bool // all the tenant's events
}

// eventSink is what carries a stream's events to its client: an SSE
// response or a WebSocket. send writes one event, flush pushes out what
// send buffered, heartbeat tells the client (and proxies) that an idle
// stream is alive. An error from any means the client is gone.
type eventSink interface {
	send(ctx context.Context, e broker.Event) error
	flush() error
	heartbeat(ctx context.Context) error
}

// streamEnd is why pumpEvents returned.
type streamEnd int

const (
	// endComplete: the task has settled and every event was sent.
	endComplete streamEnd = iota
	// endClient: the client went away, or a write to it failed.
	endClient
	// endShutdown: the server is closing.
	endShutdown
	// endCredential: the credential expired or was revoked.
	endCredential
	// endFailed: reading the view failed.
	endFailed
)

// pumpEvents sends s's events to sink, oldest first, and then each new one
// as the view applies it, until the stream is complete, ctx ends (the
// client went away), the server closes, or the credential p opened it
// with expires or is revoked (checked at each heartbeat). It is the one
// loop behind every event stream; the caller holds the stream's slot.
// Registering before reading means no change is missed.
func (a *API) pumpEvents(ctx context.Context, s eventStream, p tenant.Principal, sink eventSink) streamEnd {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(a.closed, cancel)() // the server's close ends every wait and write
	heartbeat := time.NewTicker(a.heartbeat)
	defer heartbeat.Stop()
	expiry, stopExpiry := a.expiryTimer(p)
	defer stopExpiry()
	wait := waiting{beat: heartbeat.C, expiry: expiry, p: p, sink: sink}
	for after := s.after; ; {
		if a.credentialEnded(p) {
			return endCredential
		}
		changed, stop := s.watch()
		done, more, end := a.sendEvents(ctx, sink, s, &after)
		if end != endComplete || done {
			stop()
			return a.why(ctx, end)
		}
		if more {
			stop()
			continue // more to catch up on before waiting
		}
		wait.changed = changed
		end = a.waitForChange(ctx, wait)
		stop()
		if end != endComplete {
			return a.why(ctx, end)
		}
	}
}

// why corrects the reason a stream ended: a write or wait that failed
// because the server is closing ended it for that reason.
func (a *API) why(ctx context.Context, end streamEnd) streamEnd {
	if end != endComplete && end != endCredential && a.closed.Err() != nil {
		return endShutdown
	}
	if end == endFailed && ctx.Err() != nil {
		return endClient
	}
	return end
}

// sendEvents sends the events after *after and moves it on; done reports
// that the stream is complete, more that a full batch was read, and end
// (other than endComplete) that the stream must end.
func (a *API) sendEvents(ctx context.Context, sink eventSink, s eventStream, after *uint64) (done, more bool, end streamEnd) {
	events, done, err := s.read(*after)
	if err != nil {
		a.logger.Warn("event stream read failed", "err", err)
		return false, false, endFailed
	}
	for _, e := range events {
		if s.public != nil {
			e = publicEvent(e, *s.public)
		}
		if err := sink.send(ctx, e); err != nil {
			return false, false, endClient
		}
		*after = e.Seq
	}
	if len(events) > 0 {
		if err := sink.flush(); err != nil {
			return false, false, endClient
		}
	}
	return done, len(events) == eventBatch, endComplete
}

// waiting is what an event stream waits on between changes.
type waiting struct {
	changed <-chan struct{}
	beat    <-chan time.Time
	expiry  <-chan time.Time
	p       tenant.Principal
	sink    eventSink
}

// waitForChange blocks until changed fires (endComplete), sending
// heartbeats while idle, or until the client goes away or the server
// closes (ctx ends), or the credential ends.
func (a *API) waitForChange(ctx context.Context, wt waiting) streamEnd {
	for {
		select {
		case <-wt.changed:
			return endComplete
		case <-wt.beat:
			if a.credentialEnded(wt.p) {
				return endCredential
			}
			if err := wt.sink.heartbeat(ctx); err != nil {
				return endClient
			}
		case <-wt.expiry:
			return endCredential
		case <-ctx.Done():
			return endClient
		}
	}
}

// expiryTimer fires when p's credential expires (never for an API key);
// stop releases it.
func (a *API) expiryTimer(p tenant.Principal) (fire <-chan time.Time, stop func()) {
	if p.ExpiresAt.IsZero() {
		return nil, func() {}
	}
	t := time.NewTimer(p.ExpiresAt.Sub(a.now()))
	return t.C, func() { t.Stop() }
}

// credentialEnded reports whether the credential a stream was opened with
// is no longer valid: a status token or session past its expiry (on the
// API's clock), or an API key revoked since (a session opened with a key
// ends with it).
func (a *API) credentialEnded(p tenant.Principal) bool {
	if !p.ExpiresAt.IsZero() && !a.now().Before(p.ExpiresAt) {
		return true
	}
	return p.KeyID != "" && a.tenants != nil && !a.tenants.KeyActive(p.TenantID, p.KeyID)
}
