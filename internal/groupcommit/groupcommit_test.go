package groupcommit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// roundLog records what each round synced, from the committer's test hook.
type roundLog struct {
	mu      sync.Mutex
	rounds  []seenRound
	changed chan struct{} // closed and replaced at every round
	gate    chan struct{} // when set, the next round waits for it to close
	entered chan struct{} // closed when a gated round has reached the hook
}

// seenRound is one round's work: per stream, the base names of the files
// and whether its msgs directory was synced.
type seenRound struct {
	files   map[string][]string
	dirSync map[string]bool
}

func (l *roundLog) hook(work []work) {
	r := seenRound{files: map[string][]string{}, dirSync: map[string]bool{}}
	for _, w := range work {
		for _, f := range w.files {
			r.files[w.s.name] = append(r.files[w.s.name], filepath.Base(f))
		}
		r.dirSync[w.s.name] = w.entries
	}
	l.mu.Lock()
	l.rounds = append(l.rounds, r)
	close(l.changed)
	l.changed = make(chan struct{})
	gate, entered := l.gate, l.entered
	l.gate, l.entered = nil, nil
	l.mu.Unlock()
	if gate != nil {
		close(entered)
		<-gate
	}
}

// count returns how many rounds have run.
func (l *roundLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.rounds)
}

// since returns, for stream, the files of the rounds from the n-th on and
// whether any of them synced its directory.
func (l *roundLog) since(n int, stream string) (files []string, dirSync bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rounds[n:] {
		files = append(files, r.files[stream]...)
		dirSync = dirSync || r.dirSync[stream]
	}
	return files, dirSync
}

// holdNext makes the next round wait in its hook until the returned func
// is called; entered is closed once it waits.
func (l *roundLog) holdNext() (entered <-chan struct{}, release func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gate, l.entered = make(chan struct{}), make(chan struct{})
	gate := l.gate
	return l.entered, func() { close(gate) }
}

// startCommitter returns a running committer on root whose rounds are
// logged; it is closed when the test ends.
func startCommitter(t *testing.T, root string) (*Committer, *roundLog) {
	t.Helper()
	c, err := newCommitter(root, nil)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	log := &roundLog{changed: make(chan struct{})}
	c.beforeSync = log.hook
	go c.run()
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c, log
}

// newStreamDir makes <root>/<name>/msgs with the meta files and returns
// the msgs directory.
func newStreamDir(t *testing.T, root, name string) string {
	t.Helper()
	msgs := filepath.Join(root, name, "msgs")
	if err := os.MkdirAll(msgs, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, name, "meta.inf"), "{}")
	writeFile(t, filepath.Join(root, name, "meta.sum"), "0")
	return msgs
}

// watchedStream returns a running committer on a new store whose stream S
// holds 1.blk and 2.blk, synced once, and S's msgs directory.
func watchedStream(t *testing.T) (*Committer, *roundLog, string) {
	t.Helper()
	root := t.TempDir()
	msgs := newStreamDir(t, root, "S")
	writeFile(t, filepath.Join(msgs, "1.blk"), "one")
	writeFile(t, filepath.Join(msgs, "2.blk"), "two")
	c, log := startCommitter(t, root)
	mustSync(t, c, "S")
	return c, log, msgs
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

func mustSync(t *testing.T, c *Committer, streams ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	if err := c.Sync(ctx, streams...); err != nil {
		t.Fatal(err)
	}
}

func hasAll(got []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

// TestFirstSyncCoversTheWholeStream: what was written before the stream
// was watched is synced by its first round, with its meta files and every
// directory up to the root.
func TestFirstSyncCoversTheWholeStream(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	msgs := newStreamDir(t, root, "S")
	writeFile(t, filepath.Join(msgs, "1.blk"), "one")
	writeFile(t, filepath.Join(msgs, "2.blk"), "two")
	writeFile(t, filepath.Join(msgs, "index.db"), "not a block")
	c, log := startCommitter(t, root)
	mustSync(t, c, "S")
	files, dirSync := log.since(0, "S")
	if !hasAll(files, "1.blk", "2.blk", "meta.inf", "meta.sum") || slices.Contains(files, "index.db") || !dirSync {
		t.Fatalf("first rounds synced %v (directory: %v), want 1.blk, 2.blk and the meta files, and the directory", files, dirSync)
	}
}

// TestRoundCoversEveryBlockWrittenBeforeSync: blocks written, created,
// created and removed again (a block emptied at once), and replaced by a
// rename (a compaction) before Sync are all synced before it returns, and
// so is the directory.
func TestRoundCoversEveryBlockWrittenBeforeSync(t *testing.T) {
	t.Parallel()
	c, log, msgs := watchedStream(t)
	n := log.count()
	writeFile(t, filepath.Join(msgs, "2.blk"), "more") // the last block grows
	writeFile(t, filepath.Join(msgs, "3.blk"), "new")  // rollover
	writeFile(t, filepath.Join(msgs, "4.blk"), "gone")
	if err := os.Remove(filepath.Join(msgs, "3.blk")); err != nil { // emptied and removed at once
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(msgs, "5.blk"), "after a gap")
	writeFile(t, filepath.Join(msgs, "1.blk.tmp"), "compacted")
	if err := os.Rename(filepath.Join(msgs, "1.blk.tmp"), filepath.Join(msgs, "1.blk")); err != nil {
		t.Fatal(err)
	}
	mustSync(t, c, "S")
	files, dirSync := log.since(n, "S")
	if !hasAll(files, "1.blk", "2.blk", "4.blk", "5.blk") || !dirSync {
		t.Fatalf("rounds synced %v (directory: %v), want 1.blk (replaced), 2.blk, 4.blk, 5.blk and the directory", files, dirSync)
	}

	n = log.count()
	writeFile(t, filepath.Join(msgs, "5.blk"), "appended")
	mustSync(t, c, "S")
	if files, dirSync := log.since(n, "S"); !slices.Equal(files, []string{"5.blk"}) || dirSync {
		t.Fatalf("after an append rounds synced %v (directory: %v), want only 5.blk", files, dirSync)
	}
}

// TestSwappedDirectoryIsWatchedAgain: a full purge moves the msgs
// directory away and puts a new one in its place; the committer follows.
func TestSwappedDirectoryIsWatchedAgain(t *testing.T) {
	t.Parallel()
	c, log, msgs := watchedStream(t)
	if err := os.Rename(msgs, filepath.Join(filepath.Dir(msgs), "__msgs__")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(msgs, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(msgs, "7.blk"), "after the purge")
	n := log.count()
	mustSync(t, c, "S")
	if files, _ := log.since(n, "S"); !hasAll(files, "7.blk") {
		t.Fatalf("after the swap rounds synced %v, want 7.blk", files)
	}
	n = log.count()
	writeFile(t, filepath.Join(msgs, "7.blk"), "more")
	mustSync(t, c, "S")
	if files, _ := log.since(n, "S"); !hasAll(files, "7.blk") {
		t.Fatalf("writes to the new directory: rounds synced %v, want 7.blk", files)
	}
}

// TestSyncWaitsForARoundThatBeganAfterIt: a Sync made while a round is
// syncing does not return with that round, whose changes were read before
// the Sync's write, but with the next one.
func TestSyncWaitsForARoundThatBeganAfterIt(t *testing.T) {
	t.Parallel()
	c, log, msgs := watchedStream(t)
	entered, release := log.holdNext()
	first := make(chan error, 1)
	go func() { first <- c.Sync(context.Background(), "S") }()
	<-entered // the first round has read the changes and waits to sync
	writeFile(t, filepath.Join(msgs, "1.blk"), "written during the first round")
	second := make(chan error, 1)
	go func() { second <- c.Sync(context.Background(), "S") }()
	waitRegistered(c)
	n := log.count()
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if files, _ := log.since(n, "S"); !slices.Contains(files, "1.blk") {
		t.Fatalf("the second Sync returned after rounds that synced %v, want 1.blk", files)
	}
}

// waitRegistered returns once a Sync waits for the next round.
func waitRegistered(c *Committer) {
	for {
		c.mu.Lock()
		registered := c.next != nil
		c.mu.Unlock()
		if registered {
			return
		}
		runtime.Gosched()
	}
}

// TestWritesNobodyWaitsForAreSynced: the server's own writes (a fired
// schedule, a deletion) are synced by a round of their own.
func TestWritesNobodyWaitsForAreSynced(t *testing.T) {
	t.Parallel()
	_, log, msgs := watchedStream(t)
	n := log.count()
	log.mu.Lock()
	changed := log.changed
	log.mu.Unlock()
	writeFile(t, filepath.Join(msgs, "1.blk"), "written by the server")
	deadline := time.After(testenv.GiveUpAfter)
	for {
		if files, _ := log.since(n, "S"); slices.Contains(files, "1.blk") {
			return
		}
		select {
		case <-changed:
			log.mu.Lock()
			changed = log.changed
			log.mu.Unlock()
		case <-deadline:
			t.Fatal("no round synced a write nobody waited for")
		}
	}
}

// TestSyncRefuses: an unknown stream, a name that is not one, and a
// closed committer.
func TestSyncRefuses(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	newStreamDir(t, root, "S")
	c, _ := startCommitter(t, root)
	ctx := context.Background()
	for _, name := range []string{"MISSING", "../S", "", ".."} {
		if err := c.Sync(ctx, name); err == nil {
			t.Errorf("Sync(%q): got no error, want one", name)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx, "S"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: got %v, want ErrClosed", err)
	}
}
