package webtest

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// SubjectCounts returns how many messages each subject matching filter
// holds in the stream.
func (e *Env) SubjectCounts(tb testing.TB, stream, filter string) map[string]uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s, err := e.js.Stream(ctx, stream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		tb.Fatal(err)
	}
	return info.State.Subjects
}

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
