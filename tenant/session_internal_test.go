package tenant

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// projectedView is a tenant view on its own bbolt file, fed from js.
func projectedView(t *testing.T, js jetstream.JetStream) (*Store, *bolt.DB, *projector.Projector) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := NewStore(db, testenv.SecretKeys(t), nil)
	proj := projector.New(js, db, Stream, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = proj.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return store, db, proj
}

// sessionBuckets lists what the view holds of ended sessions.
func sessionBuckets(t *testing.T, db *bolt.DB) []string {
	t.Helper()
	var out []string
	err := db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketSessionsEnded, bucketEndedByTime, bucketSessionCutoff} {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			if err := b.ForEach(func(k, v []byte) error {
				out = append(out, fmt.Sprintf("%s %x=%x", name, k, v))
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func endedIDs(t *testing.T, db *bolt.DB, tenantID string) []string {
	t.Helper()
	var ids []string
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSessionsEnded); b != nil {
			return b.ForEach(func(k, _ []byte) error {
				ids = append(ids, string(k[len(tenantID)+1:]))
				return nil
			})
		}
		return nil
	})
	return ids
}

// The view remembers a signed-out session until it would have ended
// anyway (and a margin for clocks), as the stream's events say, not the
// node's clock: a view rebuilt from the stream holds the same.
func TestEndedSessionsAreForgottenOnceOver(t *testing.T) {
	t.Parallel()
	js, _ := testenv.StartJetStream(t)
	ctx := context.Background()
	if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	store, db, proj := projectedView(t, js)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &testClock{now: t0}
	svc := NewService(js, store, proj, clk.Now)
	creds, err := svc.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	end := func(id string, until time.Time) {
		t.Helper()
		if err := svc.EndSession(ctx, creds.TenantID, id, until); err != nil {
			t.Fatal(err)
		}
	}
	end("s1", t0.Add(12*time.Hour))
	end("s2", t0.Add(12*time.Hour+30*time.Minute))
	if got := endedIDs(t, db, creds.TenantID); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("ended sessions: got %v, want [s1 s2]", got)
	}
	// s1 has been over for longer than the margin; s2 not yet.
	clk.Set(t0.Add(12*time.Hour + endedMargin + time.Minute))
	end("s3", t0.Add(24*time.Hour))
	if got := endedIDs(t, db, creds.TenantID); !slices.Equal(got, []string{"s2", "s3"}) {
		t.Fatalf("ended sessions after s1's end: got %v, want [s2 s3]", got)
	}
	if err := svc.EndAllSessions(ctx, creds.TenantID); err != nil {
		t.Fatal(err)
	}
	live := sessionBuckets(t, db)
	if len(live) != 5 { // two ended sessions, in two buckets, and the cutoff
		t.Fatalf("the view holds %d session records, want 5:\n%v", len(live), live)
	}
	_, rebuiltDB, rebuilt := projectedView(t, js)
	if err := rebuilt.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sessionBuckets(t, rebuiltDB); !slices.Equal(got, live) {
		t.Fatalf("rebuilt view:\n%v\nlive view:\n%v", got, live)
	}
}
