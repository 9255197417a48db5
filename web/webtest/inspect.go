package webtest

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/broker"
)

// StreamMessages returns every message the stream holds, subject and
// headers and data, read one by one: for tests that look for something
// in all of them.
func (e *Env) StreamMessages(tb testing.TB, stream string) []*jetstream.RawStreamMsg {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// ViewKeys returns the path of every key in the view file, buckets
// joined by "/", values left out.
func (e *Env) ViewKeys(tb testing.TB) []string {
	tb.Helper()
	var out []string
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		return b.ForEach(func(k, v []byte) error {
			out = append(out, prefix+string(k))
			if v == nil {
				return walk(prefix+string(k)+"/", b.Bucket(k))
			}
			return nil
		})
	}
	err := e.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			out = append(out, string(name))
			return walk(string(name)+"/", b)
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// CreateTaskDirect creates a task for the tenant through the broker,
// past the API's checks (its suspension, its quota): what another node
// accepted just before this one applied a change. It returns the task's
// id.
func (e *Env) CreateTaskDirect(tb testing.TB, tenantID, targetURL string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	task, _, err := e.Tasks.Create(ctx, tenantID, broker.Spec{TargetURL: targetURL, Method: "POST", Retries: 1, Timeout: 10}, "")
	if err != nil {
		tb.Fatalf("create task: %v", err)
	}
	return task.ID
}
