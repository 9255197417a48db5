package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestApplySkipsMalformedEventsAndRetriesFailedWrites feeds the tenant
// view malformed events, which are skipped and counted, and a tenant whose
// record cannot be written (its key is taken by a bucket, so bbolt's Put
// refuses it): that batch is retried, not skipped, and the tenant is there
// once the write can succeed.
func TestApplySkipsMalformedEventsAndRetriesFailedWrites(t *testing.T) {
	t.Parallel()
	js, _ := testenv.StartJetStream(t)
	ctx := context.Background()
	if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	store, db, proj := projectedView(t, js)

	const id = "ten_0123456789abcdef"
	conflict := func(fn func(b *bolt.Bucket) error) {
		t.Helper()
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(bucketTenants)
			if err != nil {
				return err
			}
			return fn(b)
		}); err != nil {
			t.Fatal(err)
		}
	}
	conflict(func(b *bolt.Bucket) error { _, err := b.CreateBucket([]byte(id)); return err })
	for subject, data := range map[string]string{
		"tenant.x":                    `{}`,
		"tenant." + id + ".created":   `{bad`,
		"tenant." + id + ".renamed":   `{}`,
		"tenant.ten_b.key_created":    `{"key": {"id": ""}}`,
		"tenant.ten_b.limits_updated": `{"limits": "none"}`,
	} {
		if _, err := js.Publish(ctx, subject, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	created, _ := json.Marshal(event{At: time.Now(), Name: "acme", Secret: make([]byte, 32), Key: &keyEvent{ID: "k1", Hash: []byte("h")}})
	ack, err := js.Publish(ctx, "tenant."+id+".created", created)
	if err != nil {
		t.Fatal(err)
	}

	testenv.WaitUntil(t, "the failed write to be reported", func() (bool, string) {
		return proj.Err() != nil, fmt.Sprintf("Err %v, applied %d", proj.Err(), proj.Applied())
	})
	if err := proj.Err(); !errors.Is(err, berrors.ErrIncompatibleValue) || proj.Applied() >= ack.Sequence {
		t.Fatalf("while the write fails: Err %v, applied %d; want bbolt's error, short of %d", err, proj.Applied(), ack.Sequence)
	}
	conflict(func(b *bolt.Bucket) error { return b.DeleteBucket([]byte(id)) })
	wctx, wcancel := context.WithTimeout(ctx, testenv.GiveUpAfter)
	defer wcancel()
	if err := proj.WaitFor(wctx, ack.Sequence); err != nil {
		t.Fatal(err)
	}
	if got, err := store.Get(id); err != nil || got.Name != "acme" || len(got.Keys) != 1 {
		t.Fatalf("the tenant after the retry: %+v, %v", got, err)
	}
	if n := proj.Skipped(); n != 5 || proj.Err() != nil {
		t.Fatalf("Skipped %d, Err %v; want 5 and healthy", n, proj.Err())
	}
}
