package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jsProbe asks JetStream, every interval, whether it can serve: whether
// it has a meta leader and each of the node's streams a leader that has
// heard from a quorum of its replicas lately. In a cluster, a server cut
// off from the majority still holds the node's connection but answers
// "temporarily unavailable" (or, for 10–20 s, a stream leader on the
// minority side still answers, not yet stepped down), and after servers
// come back the streams elect their leaders a while after the meta
// leader: meanwhile the node would take requests it cannot record, so it
// is unready until the probe is answered again. A connection that comes
// back makes the node unready until the next probe, made at once, is
// answered.
type jsProbe struct {
	js       jetstream.JetStream // set before Run
	streams  []string
	logger   *slog.Logger
	interval time.Duration
	timeout  time.Duration

	running atomic.Bool
	// failing is how many probes in a row went unanswered or refused.
	failing atomic.Int32
	now     chan struct{} // asks for a probe at once
}

// Probe timing: a node is unready after failsBeforeUnready probes in a row
// fail, so that one slow answer on a busy machine does not flap /readyz.
const (
	probeInterval      = 2 * time.Second
	probeTimeout       = 5 * time.Second
	failsBeforeUnready = 2
)

func newJSProbe(streams []string, logger *slog.Logger) *jsProbe {
	return &jsProbe{streams: streams, logger: logger, interval: probeInterval, timeout: probeTimeout,
		now: make(chan struct{}, 1)}
}

// Run probes until ctx ends; it never dies on its own.
func (p *jsProbe) Run(ctx context.Context) error {
	p.running.Store(true)
	defer p.running.Store(false)
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-p.now:
		}
		pctx, cancel := context.WithTimeout(ctx, p.timeout)
		err := p.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		p.record(err)
	}
}

// probe asks for the account's JetStream (the meta leader answers) and
// each stream's info (its leader answers).
func (p *jsProbe) probe(ctx context.Context) error {
	if _, err := p.js.AccountInfo(ctx); err != nil {
		return err
	}
	for _, name := range p.streams {
		s, err := p.js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		if err := quorumHeard(s.CachedInfo().Cluster); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return nil
}

// replicaStaleAfter is how long a stream's leader may go without hearing
// from a replica before the replica no longer counts towards its quorum.
const replicaStaleAfter = 5 * time.Second

// quorumHeard reports whether a replicated stream has a leader that has
// heard from a quorum of its replicas lately. Heard from lately, not
// Current: under load a replica is often a few writes behind, and still
// part of the quorum. A stream of one replica passes.
func quorumHeard(c *jetstream.ClusterInfo) error {
	if c == nil {
		return nil
	}
	if c.Leader == "" {
		return errors.New("no leader")
	}
	if len(c.Replicas) == 0 {
		return nil
	}
	heard := 1 // the leader
	for _, r := range c.Replicas {
		if !r.Offline && r.Active < replicaStaleAfter {
			heard++
		}
	}
	if quorum := (len(c.Replicas)+1)/2 + 1; heard < quorum {
		return fmt.Errorf("its leader %s has heard from %d of %d replicas lately", c.Leader, heard, len(c.Replicas)+1)
	}
	return nil
}

// record counts a probe's outcome and logs when readiness changes.
func (p *jsProbe) record(err error) {
	if err == nil {
		if p.failing.Swap(0) >= failsBeforeUnready {
			p.logger.Info("JetStream answers, and every stream has a leader: the node is ready")
		}
		return
	}
	if p.failing.Add(1) == failsBeforeUnready {
		p.logger.Warn("JetStream does not answer, or a stream has no leader (cut off from the cluster's majority?): the node is not ready", "error", err)
	}
}

// Reconnected makes the node unready until a probe, made at once, is
// answered: a connection that is back may be to a server whose cluster is
// still electing leaders.
func (p *jsProbe) Reconnected() {
	if p == nil || !p.running.Load() {
		return
	}
	if p.failing.Load() < failsBeforeUnready {
		p.failing.Store(failsBeforeUnready)
	}
	select {
	case p.now <- struct{}{}:
	default:
	}
}

// Err returns why JetStream cannot serve, or nil.
func (p *jsProbe) Err() error {
	if p == nil || !p.running.Load() || p.failing.Load() < failsBeforeUnready {
		return nil
	}
	return errors.New("JetStream does not answer, or a stream has no leader (no quorum on this side?)")
}
