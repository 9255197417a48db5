package testenv

import (
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// Applier is a projector's Applier (internal/projector, which cannot be
// imported here: its tests import this package).
type Applier interface {
	Apply(tx *bolt.Tx, msgs []jetstream.Msg) (afterCommit func(), err error)
}

// ViewGate holds a node's view behind its stream: it wraps the view's
// Applier, and while the gate is held every batch waits, inside its
// transaction, until the gate opens. A test holds it, writes on another
// node, and reads on this one, which must catch up with the stream to see
// the write. It starts open.
type ViewGate struct {
	Applier

	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
}

// NewViewGate returns an open gate; Wrap puts it in front of a view.
func NewViewGate() *ViewGate {
	g := &ViewGate{open: make(chan struct{})}
	close(g.open)
	return g
}

// Wrap puts the gate in front of a, and returns it as the Applier to use.
func (g *ViewGate) Wrap(a Applier) *ViewGate {
	g.Applier = a
	return g
}

// Apply applies the batch once the gate is open.
func (g *ViewGate) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	<-open
	return g.Applier.Apply(tx, msgs)
}

// Prepare is the wrapped Applier's Prepare, if it has one, so that the
// view decodes as it does unwrapped.
func (g *ViewGate) Prepare(m jetstream.Msg) any {
	if p, ok := g.Applier.(interface{ Prepare(jetstream.Msg) any }); ok {
		return p.Prepare(m)
	}
	return nil
}

// Hold makes the view's next batches wait until Release.
func (g *ViewGate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default: // held already
	}
}

// Release opens the gate; the batches waiting are applied.
func (g *ViewGate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// Behind holds the gate, runs write (on another node, say), then read (on
// the gated node) while the view is behind the write, and opens the gate
// once caughtUp fires — the read has begun to wait for the view — or once
// read returns, whichever comes first. It reports whether caughtUp came
// first: a read that returned before it answered from the view as it was.
// Signals on caughtUp from before read are ignored.
func (g *ViewGate) Behind(caughtUp <-chan struct{}, write, read func()) bool {
	g.Hold()
	defer g.Release()
	write()
	for drained := false; !drained; {
		select {
		case <-caughtUp:
		default:
			drained = true
		}
	}
	done := make(chan struct{})
	asked := make(chan bool, 1)
	go func() {
		select {
		case <-caughtUp:
			g.Release()
			asked <- true
		case <-done:
			asked <- false
		}
	}()
	func() {
		defer close(done) // also when read fails the test
		read()
	}()
	return <-asked
}

// StreamInfoRequests signals each JetStream STREAM.INFO request for stream
// that nc's server sees, from any client: how a node asks how far the
// stream reaches before it catches its view up. The subscription ends at
// cleanup.
func StreamInfoRequests(tb testing.TB, nc *nats.Conn, stream string) <-chan struct{} {
	tb.Helper()
	ch := make(chan struct{}, 64)
	sub, err := nc.Subscribe(jetstream.DefaultAPIPrefix+"STREAM.INFO."+stream, func(*nats.Msg) {
		select {
		case ch <- struct{}{}:
		default: // a signal is waiting already
		}
	})
	if err != nil {
		tb.Fatalf("subscribe to stream info requests: %v", err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatalf("flush: %v", err)
	}
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}
