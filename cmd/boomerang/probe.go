package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamProbe asks, every interval, for the info of the stream the node
// writes every task to, and keeps the last answer for /readyz. A NATS
// partition leaves the node's connection up, so only such a question
// shows that the node is cut off: its server cannot reach the stream's
// leader (no answer within timeout), the stream has no leader (an
// error), or the leader that answers has not heard from a quorum of its
// replicas for staleAfter (it is in the minority and has not yet noticed).
type streamProbe struct {
	js         jetstream.JetStream
	stream     string
	interval   time.Duration
	timeout    time.Duration
	staleAfter time.Duration
	last       atomic.Pointer[error] // nil: no failure (or no answer yet)
}

func newStreamProbe(js jetstream.JetStream, stream string) *streamProbe {
	return &streamProbe{js: js, stream: stream, interval: time.Second, timeout: 2 * time.Second, staleAfter: 5 * time.Second}
}

// Err returns why the last check failed, or nil.
func (p *streamProbe) Err() error {
	if p == nil {
		return nil
	}
	if err := p.last.Load(); err != nil {
		return *err
	}
	return nil
}

// Run checks until ctx ends.
func (p *streamProbe) Run(ctx context.Context) error {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		err := p.check(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			err = fmt.Errorf("the event log cannot take writes from this node: %w", err)
			p.last.Store(&err)
		} else {
			p.last.Store(nil)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

func (p *streamProbe) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	s, err := p.js.Stream(ctx, p.stream)
	if err != nil {
		return err
	}
	c := s.CachedInfo().Cluster
	if c == nil || len(c.Replicas) == 0 {
		return nil // one replica: answering is enough
	}
	if c.Leader == "" {
		return errors.New("the stream has no leader")
	}
	// Heard from lately, not Current: under load a replica is often a few
	// writes behind, and still part of the quorum.
	heard := 1 // the leader
	for _, r := range c.Replicas {
		if !r.Offline && r.Active < p.staleAfter {
			heard++
		}
	}
	if quorum := (len(c.Replicas)+1)/2 + 1; heard < quorum {
		return fmt.Errorf("the stream's leader %s has heard from %d of %d replicas lately", c.Leader, heard, len(c.Replicas)+1)
	}
	return nil
}
