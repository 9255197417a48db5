package groupcommit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// startServer starts an embedded nats-server in its default sync mode
// and returns a client and the server's streams directory.
func startServer(t *testing.T) (jetstream.JetStream, string) {
	t.Helper()
	var dir string
	js, _ := testenv.StartJetStream(t, func(c *natsembed.Config) { dir = c.Dir })
	return js, natsembed.StreamsDir(dir)
}

// smallBlocks is a stream whose blocks are the smallest the server makes
// (32 KB: it sizes them from MaxBytes), keeping only its last 100 KB, so
// that a few thousand messages roll over many blocks and empty the oldest.
func smallBlocks(name string) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{strings.ToLower(name) + ".>"}, Storage: jetstream.FileStorage,
		MaxBytes: 100_000}
}

// payloadsIn returns every payload marker (prefix and six digits) in the
// block files of dir.
func payloadsIn(t *testing.T, dir, prefix string) (found map[string]bool, names []string) {
	found = map[string]bool{}
	names, err := blocks(dir)
	if err != nil {
		t.Error(err)
		return found, nil
	}
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Error(err)
		}
		for {
			i := bytes.Index(data, []byte(prefix))
			if i < 0 || i+len(prefix)+6 > len(data) {
				break
			}
			found[string(data[i:i+len(prefix)+6])] = true
			data = data[i+len(prefix):]
		}
	}
	return found, names
}

// TestAcknowledgedMessagesAreInTheirBlockWhenSynced is the contract the
// group commit rests on, which nats-server does not document: a message is
// in its block file (the page cache) when its publish is acknowledged. 64
// publishers publish unique payloads and, after each acknowledgement,
// record it and wait for a round; every round, just before it syncs,
// reads the block files and checks that every payload recorded so far and
// not yet dropped by the stream's limit is in one, across many block
// rollovers and removals. If a server version ever acknowledges before
// writing, this fails.
func TestAcknowledgedMessagesAreInTheirBlockWhenSynced(t *testing.T) {
	t.Parallel()
	js, root := startServer(t)
	const total, publishers = 4000, 64
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := js.CreateStream(ctx, smallBlocks("GC"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCommitter(root, nil)
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	check := &ackCheck{t: t, stream: stream, dir: filepath.Join(root, "GC", "msgs"), acked: map[string]uint64{}, blocks: map[string]bool{}}
	c.beforeSync = check.round
	go c.run()
	defer c.Close()

	g, gctx := errgroup.WithContext(ctx)
	for p := range publishers {
		g.Go(func() error {
			for i := p; i < total; i += publishers {
				payload := fmt.Sprintf("gc-%06d", i) + strings.Repeat(".", 80)
				ack, err := js.Publish(gctx, "gc.x", []byte(payload))
				if err != nil {
					return err
				}
				check.acknowledged(payload[:9], ack.Sequence)
				if err := c.Sync(gctx, "GC"); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Blocks hold 32 KB, a record about 120 bytes: 4,000 make 15.
	if len(check.blocks) < 8 || check.rounds < 2 || check.checked < total {
		t.Fatalf("%d rounds checked %d acknowledgements in %d blocks, want at least 2 rounds, %d acknowledgements and 8 blocks",
			check.rounds, check.checked, len(check.blocks), total)
	}
	t.Logf("%d rounds for %d publishes checked %d acknowledgements in %d blocks", check.rounds, total, check.checked, len(check.blocks))
}

// ackCheck checks, at every round, that the acknowledged payloads are in
// the stream's block files.
type ackCheck struct {
	t      *testing.T
	stream jetstream.Stream
	dir    string

	mu    sync.Mutex
	acked map[string]uint64 // payload marker -> sequence

	rounds, checked int             // the committer's loop only
	blocks          map[string]bool // every block seen
}

func (a *ackCheck) acknowledged(marker string, seq uint64) {
	a.mu.Lock()
	a.acked[marker] = seq
	a.mu.Unlock()
}

// round checks every payload acknowledged before it began: read the
// files, then ask the stream which sequences its limit has dropped, so that
// a message still in the stream then was in it when the files were read.
func (a *ackCheck) round([]work) {
	a.mu.Lock()
	want := maps.Clone(a.acked)
	a.mu.Unlock()
	found, names := payloadsIn(a.t, a.dir, "gc-")
	info, err := a.stream.Info(context.Background())
	if err != nil {
		a.t.Error(err)
		return
	}
	for marker, seq := range want {
		if seq >= info.State.FirstSeq && !found[marker] {
			a.t.Errorf("round %d: %s (sequence %d) was acknowledged but is in no block file", a.rounds, marker, seq)
		}
	}
	for _, name := range names {
		a.blocks[name] = true
	}
	a.rounds, a.checked = a.rounds+1, a.checked+len(want)
}

// TestDurableJetStreamAcknowledgesAfterARound: every kind of publish
// through the wrapped JetStream returns (or resolves) only after a round
// has synced the stream's block, and a refusal by the stream only after a
// round; a future nobody reads is left alone.
func TestDurableJetStreamAcknowledgesAfterARound(t *testing.T) {
	t.Parallel()
	js, root := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, smallBlocks("WRAP")); err != nil {
		t.Fatal(err)
	}
	c, log := startCommitter(t, root)
	durable := c.JetStream(js)
	publishes := map[string]func() (*jetstream.PubAck, error){
		"Publish": func() (*jetstream.PubAck, error) { return durable.Publish(ctx, "wrap.a", []byte("a")) },
		"PublishMsg": func() (*jetstream.PubAck, error) {
			return durable.PublishMsg(ctx, &nats.Msg{Subject: "wrap.b", Data: []byte("b")})
		},
		"PublishAsync": func() (*jetstream.PubAck, error) {
			return await(durable.PublishAsync("wrap.c", []byte("c")))
		},
		"PublishMsgAsync": func() (*jetstream.PubAck, error) {
			return await(durable.PublishMsgAsync(&nats.Msg{Subject: "wrap.d", Data: []byte("d")}))
		},
	}
	for name, publish := range publishes {
		n := log.count()
		ack, err := publish()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if files, _ := log.since(n, "WRAP"); ack.Stream != "WRAP" || len(files) == 0 {
			t.Fatalf("%s returned %+v after rounds that synced %v of WRAP, want a block", name, ack, files)
		}
	}
	n := log.count()
	_, err := durable.Publish(ctx, "wrap.a", []byte("again"), jetstream.WithExpectLastSequencePerSubject(0))
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || log.count() == n {
		t.Fatalf("a publish the stream refuses: got %v after %d rounds, want its API error after a round", err, log.count()-n)
	}
	if _, err := durable.PublishAsync("wrap.e", []byte("nobody waits")); err != nil {
		t.Fatal(err)
	}
	if _, err := durable.Publish(ctx, "nowhere.x", []byte("x")); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Fatalf("a publish no stream takes: got %v, want ErrNoStreamResponse", err)
	}
}

func await(f jetstream.PubAckFuture, err error) (*jetstream.PubAck, error) {
	if err != nil {
		return nil, err
	}
	select {
	case ack := <-f.Ok():
		return ack, nil
	case err := <-f.Err():
		return nil, err
	}
}
