// Package groupcommit makes the writes of an embedded nats-server's file
// store durable in shared rounds: one fsync covers every publish
// acknowledged before the round began.
//
// nats-server (v2.15) in its default sync mode writes each message of a
// single-replica stream to its block file (the OS page cache) before it
// acknowledges the publish, and fsyncs only every two minutes; with
// SyncAlways it fsyncs every message on its own, in the stream's single
// ingest loop. A Committer keeps the server in the default mode and gives
// a publisher what SyncAlways gave: after its acknowledgement, the
// publisher calls Sync, which returns once a round that began after the
// call has synced every block file written since the previous round (and
// the directory when a block appeared, went or was replaced). Rounds run
// back to back while anyone waits, so a publisher waits for at most about
// two fsyncs, however many publish at once.
//
// The committer learns which files changed from the kernel (inotify on
// Linux): every write to a watched directory is queued before the write
// returns, hence before the server acknowledges, and a round reads the
// queue after taking its waiters. The layout it watches is the file
// store's: <streams>/<stream>/msgs/<index>.blk, plus the stream's meta
// files and directories when it first sees a stream. On other systems New
// returns ErrUnsupported: run the server with SyncAlways instead.
//
// It relies on a server behaviour that is not a documented contract (the
// message is in the file when the acknowledgement is sent), for
// single-replica streams without async persistence only; the package's
// tests fail if a new server version stops doing so.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrUnsupported is returned by New where the committer cannot learn which
// files the server writes (any system but Linux).
var ErrUnsupported = errors.New("groupcommit: not supported on this system")

// ErrClosed is returned by Sync once the committer is closed.
var ErrClosed = errors.New("groupcommit: closed")

// DefaultLinger is how long a round for writes nobody waits for (the
// server's own: fired schedules, deletions) waits for a publisher to join.
const DefaultLinger = 10 * time.Millisecond

// Committer syncs the block files of the streams it watches in rounds.
type Committer struct {
	root   string // the server's streams directory
	logger *slog.Logger
	w      watcher
	linger time.Duration

	mu      sync.Mutex
	streams map[string]*stream // by name
	byWatch map[int]*stream    // by watch id
	next    *round             // the waiters of the next round
	idle    bool               // the loop sleeps: wake it
	closing bool
	err     error // sticky: after a failed fsync nothing is known to be durable
	done    chan struct{}

	// beforeSync, when set (by tests), runs in each round after the
	// round has read the changes and before it syncs them.
	beforeSync func([]work)
}

// round is one sync round's waiters: done is closed when it has ended,
// with err.
type round struct {
	done chan struct{}
	err  error
}

// stream is a watched stream: what changed in its msgs directory since
// the last round.
type stream struct {
	name, dir string // dir: <root>/<name>/msgs
	watch     int
	fresh     bool                // sync everything of it, and its directories
	dirty     map[string]struct{} // block files written or replaced
	entries   bool                // a block appeared, went or was replaced
	inodes    map[string]uint64   // the inode each block had when synced (the loop's)
}

// New returns a committer for the streams under root, the file store's
// streams directory (<store>/jetstream/<account>/streams), and starts its
// loop. It returns ErrUnsupported where it cannot work.
func New(root string, logger *slog.Logger) (*Committer, error) {
	c, err := newCommitter(root, logger)
	if err != nil {
		return nil, err
	}
	go c.run()
	return c, nil
}

// newCommitter returns a committer whose loop is not started yet.
func newCommitter(root string, logger *slog.Logger) (*Committer, error) {
	w, err := newWatcher()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Committer{root: root, logger: logger, w: w, linger: DefaultLinger,
		streams: map[string]*stream{}, byWatch: map[int]*stream{}, done: make(chan struct{})}, nil
}

// Sync returns once every write to the named streams' files, and to every
// other watched stream's, made before the call is on disk (with no names:
// every watched stream's). It starts watching a stream the first time it
// is named; the stream's directory must exist. It returns the error of a failed fsync, then and for ever
// after, ErrClosed once the committer is closed, or ctx's error.
func (c *Committer) Sync(ctx context.Context, streams ...string) error {
	c.mu.Lock()
	if err := c.usable(); err != nil {
		c.mu.Unlock()
		return err
	}
	for _, name := range streams {
		if err := c.watchLocked(name); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	r := c.next
	if r == nil {
		r = &round{done: make(chan struct{})}
		c.next = r
	}
	wake := c.idle
	c.idle = false
	c.mu.Unlock()
	if wake {
		c.w.wake()
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err returns the error that stopped the committer (a failed fsync, or the
// store's changes no longer followed), or nil while it works.
func (c *Committer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// usable returns why Sync cannot be served, if it cannot. c.mu is held.
func (c *Committer) usable() error {
	switch {
	case c.err != nil:
		return c.err
	case c.closing:
		return ErrClosed
	}
	return nil
}

// watchLocked starts watching a stream unless it is watched already; its
// first round syncs all of it. c.mu is held.
func (c *Committer) watchLocked(name string) error {
	if _, ok := c.streams[name]; ok {
		return nil
	}
	if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("groupcommit: %q is not a stream name", name)
	}
	s := &stream{name: name, dir: filepath.Join(c.root, name, "msgs"), dirty: map[string]struct{}{}, inodes: map[string]uint64{}}
	if err := c.addWatch(s); err != nil {
		return err
	}
	c.streams[name] = s
	return nil
}

// addWatch watches s's directory and marks all of it for the next round
// (what was written before the watch began is not in the queue). c.mu is
// held.
func (c *Committer) addWatch(s *stream) error {
	id, err := c.w.add(s.dir)
	if err != nil {
		return fmt.Errorf("groupcommit: watch stream %s (%s): %w", s.name, s.dir, err)
	}
	s.watch, s.fresh = id, true
	c.byWatch[id] = s
	return nil
}

// Close runs a last round for those waiting, stops the loop and releases
// the watcher. Later Syncs return ErrClosed.
func (c *Committer) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		<-c.done
		return nil
	}
	c.closing = true
	c.idle = false
	c.mu.Unlock()
	c.w.wake()
	<-c.done
	return c.w.close()
}

// run runs rounds until the committer closes.
func (c *Committer) run() {
	defer close(c.done)
	for c.await() {
		c.round()
	}
}

// await blocks until a round is due and reports whether one is: someone
// waits; or the store changed with nobody waiting, then after the linger
// (or as soon as someone comes). It reports false once closing with
// nobody waiting.
func (c *Committer) await() bool {
	c.mu.Lock()
	if c.next != nil {
		c.mu.Unlock()
		return true
	}
	if c.closing || c.err != nil {
		c.mu.Unlock()
		return false
	}
	c.idle = true
	c.mu.Unlock()
	woken, changed, err := c.w.wait(true, -1)
	if err == nil && changed && !woken {
		_, _, err = c.w.wait(false, c.linger)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = false
	if err != nil {
		c.err = fmt.Errorf("groupcommit: watch: %w", err)
		c.logger.Error("group commit stopped: the store's changes cannot be followed", "err", err)
		return c.next != nil
	}
	return c.next != nil || !c.closing
}

// round takes the waiters registered so far, syncs everything written
// before it took them, and releases them.
func (c *Committer) round() {
	c.mu.Lock()
	r := c.next
	c.next = nil
	c.mu.Unlock()
	err := c.commit()
	if r != nil {
		r.err = err
		close(r.done)
	}
}

// commit reads the changes queued so far and syncs them.
func (c *Committer) commit() error {
	c.mu.Lock()
	if err := c.err; err != nil {
		c.mu.Unlock()
		return err
	}
	work, err := c.collect()
	c.mu.Unlock()
	if err == nil {
		if c.beforeSync != nil {
			c.beforeSync(work)
		}
		err = c.syncAll(work)
	}
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
			c.logger.Error("group commit failed: publishes are refused from now on", "err", err)
		}
		c.mu.Unlock()
	}
	return err
}
