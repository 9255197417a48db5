package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// part is one long-running piece of the node: it runs until ctx ends, then
// returns nil once it has stopped. Returning before that, with an error or
// without, means it has died.
type part interface {
	Run(ctx context.Context) error
}

// aborter is a part with a hard stop: Abort makes a Run that is finishing
// its work in flight give that work up.
type aborter interface {
	Abort()
}

// errReturned is why a part that returned nil before it was told to stop
// has died.
var errReturned = errors.New("returned before shutdown")

// group runs the node's parts under one errgroup. Parts start in stages,
// and each stage stops as one, so that the node can stop its parts in
// order. The first part to die is recorded: the node is then unready, and
// wait returns its error.
type group struct {
	eg     errgroup.Group
	logger *slog.Logger

	once sync.Once
	died chan struct{} // closed when the first part dies
	err  error         // why; written before died is closed
}

func newGroup(logger *slog.Logger) *group {
	return &group{logger: logger, died: make(chan struct{})}
}

// stage returns a new stage of parts, started by go and stopped together.
func (g *group) stage() *stage {
	ctx, cancel := context.WithCancel(context.Background())
	return &stage{g: g, ctx: ctx, cancel: cancel}
}

// Died is closed when a part has died.
func (g *group) Died() <-chan struct{} { return g.died }

// failure returns why a part died, or nil while none has.
func (g *group) failure() error {
	select {
	case <-g.died:
		return g.err
	default:
		return nil
	}
}

func (g *group) fail(err error) {
	g.once.Do(func() {
		g.err = err
		close(g.died)
	})
	g.logger.Error("a part of the node stopped", "err", err)
}

// wait waits for every part and returns the first error one returned.
func (g *group) wait() error { return g.eg.Wait() }

// stage is a set of parts that stop together.
type stage struct {
	g      *group
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	aborters []aborter
}

// start runs p in the group until the stage stops; name labels its errors.
func (s *stage) start(name string, p part) {
	if a, ok := p.(aborter); ok {
		s.mu.Lock()
		s.aborters = append(s.aborters, a)
		s.mu.Unlock()
	}
	s.wg.Add(1)
	s.g.eg.Go(func() error {
		defer s.wg.Done()
		err := p.Run(s.ctx)
		stopped := s.ctx.Err() != nil
		switch {
		case stopped && (err == nil || errors.Is(err, context.Canceled)):
			return nil
		case err == nil:
			err = errReturned
		}
		err = fmt.Errorf("%s: %w", name, err)
		if stopped {
			s.g.logger.Error("a part of the node failed to stop", "err", err)
		} else {
			s.g.fail(err)
		}
		return err
	})
}

// stop tells the stage's parts to stop and waits for them.
func (s *stage) stop() {
	s.cancel()
	s.wg.Wait()
}

// stopWithin is stop with a deadline: parts still running after grace
// are aborted, then waited for.
func (s *stage) stopWithin(grace time.Duration) {
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	}
	s.g.logger.Warn("grace period over; abandoning the work in flight to redelivery", "grace", grace)
	s.mu.Lock()
	for _, a := range s.aborters {
		a.Abort()
	}
	s.mu.Unlock()
	<-done
}
