package tenant

import (
	"encoding/binary"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
)

// headerOrigin marks a copy Reseal made of an event: the sequence at which
// the event first entered the stream, its origin. An event that is no copy
// has its own sequence as origin.
const headerOrigin = "Boomerang-Origin"

// Origins only grow along the stream, except where Reseal's copies repeat
// events (see reseal.go): a view applies an event only if its origin is
// beyond the last one it applied, and so applies each event once, in
// order, whether it saw the original, the copy, or the original of some
// events and the copies of the rest.
var (
	bucketOrigins = []byte("tenantorigins")
	keyLastOrigin = []byte("last") // 8-byte big-endian
)

// copyFilter tells, message by message, the copies of events a view has
// applied.
type copyFilter struct {
	b    *bolt.Bucket
	last uint64 // the origin of the last event applied
}

// newCopyFilter reads the origin of the last event the view applied; a
// view from before copies existed has applied every event up to its last
// sequence.
func newCopyFilter(tx *bolt.Tx) (*copyFilter, error) {
	b, err := tx.CreateBucketIfNotExists(bucketOrigins)
	if err != nil {
		return nil, err
	}
	if v := b.Get(keyLastOrigin); len(v) == 8 {
		return &copyFilter{b: b, last: binary.BigEndian.Uint64(v)}, nil
	}
	last, err := projector.LastApplied(tx, Stream)
	return &copyFilter{b: b, last: last}, err
}

// skip reports whether m repeats an event the view has applied; if not,
// m's origin becomes the last.
func (f *copyFilter) skip(m jetstream.Msg) (bool, error) {
	meta, err := m.Metadata()
	if err != nil {
		return false, err
	}
	origin := originOf(m, meta.Sequence.Stream)
	if origin <= f.last {
		return true, nil
	}
	f.last = origin
	return false, f.b.Put(keyLastOrigin, binary.BigEndian.AppendUint64(nil, origin))
}

// originOf returns the origin of the message at seq: its own sequence,
// or an earlier one for a copy.
func originOf(m jetstream.Msg, seq uint64) uint64 {
	v := m.Headers().Get(headerOrigin)
	if v == "" {
		return seq
	}
	origin, err := strconv.ParseUint(v, 10, 64)
	if err != nil || origin >= seq {
		return seq // not a header Reseal wrote
	}
	return origin
}
