package tenant

import (
	"encoding/binary"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
)

// bucketGaps records the runs of stream sequences this view never saw:
// messages deleted before its projector reached them. Key: the run's first
// sequence; value: the sequence after its last; both 8-byte big-endian.
// With them a view tells whether it has applied the original of a copy
// Reseal made (see reseal.go).
var bucketGaps = []byte("tenantgaps")

// copyFilter follows a batch through the stream: it records the gaps
// before each message and tells the copies whose originals this view
// applied.
type copyFilter struct {
	gaps *bolt.Bucket
	prev uint64 // the sequence of the last message seen
}

func newCopyFilter(tx *bolt.Tx) (*copyFilter, error) {
	gaps, err := tx.CreateBucketIfNotExists(bucketGaps)
	if err != nil {
		return nil, err
	}
	prev, err := projector.LastApplied(tx, Stream)
	if err != nil {
		return nil, err
	}
	return &copyFilter{gaps: gaps, prev: prev}, nil
}

// skip records the gap before m, if any, and reports whether m is a copy
// of an event this view has applied; a copy whose header is not one Reseal
// writes is skipped too.
func (f *copyFilter) skip(m jetstream.Msg) (bool, error) {
	meta, err := m.Metadata()
	if err != nil {
		return false, err
	}
	seq := meta.Sequence.Stream
	if seq > f.prev+1 {
		if err := f.gaps.Put(seqKey(f.prev+1), seqKey(seq)); err != nil {
			return false, err
		}
	}
	f.prev = seq
	if m.Headers().Get(headerCopyOf) == "" {
		return false, nil
	}
	of, ok := copyOf(m)
	if !ok || of >= seq {
		return true, nil
	}
	return !f.missed(of), nil
}

// missed reports whether seq lies in a recorded gap.
func (f *copyFilter) missed(seq uint64) bool {
	c := f.gaps.Cursor()
	k, v := c.Seek(seqKey(seq))
	if k != nil && binary.BigEndian.Uint64(k) == seq {
		return true
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	return k != nil && seq < binary.BigEndian.Uint64(v)
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
