package broker

import (
	"errors"
	"math"
	"slices"
	"sort"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The binary format of task events and of the view's records: one format
// byte, binFormat, then the fields in the protocol buffers wire format
// (google.golang.org/protobuf/encoding/protowire), written and read by hand
// in wire_event.go and wire_view.go — no generated code, no reflection.
// Each record's field numbers are fixed once given: a reader skips numbers
// it does not know, so a field can be added without a new format byte.
//
// JSON, what events and records were before, starts with '{' and never
// with binFormat: every reader takes either (decodeEvent, decodeValue), so
// streams and view files written before still read. A change that old
// readers must refuse takes a new format byte.

// binFormat is the first byte of a binary event or record.
const binFormat = 0x01

// errWire is what a binary value that does not decode reports.
var errWire = errors.New("broker: malformed binary value")

// isBinary reports whether data is in the binary format.
func isBinary(data []byte) bool { return len(data) > 0 && data[0] == binFormat }

// wbuf appends fields. Zero values are left out, as JSON's omitempty did;
// a reader leaves an absent field at its zero value.
type wbuf []byte

func newWbuf(capacity int) wbuf { return append(make(wbuf, 0, capacity), binFormat) }

func (b wbuf) str(n protowire.Number, s string) wbuf {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func (b wbuf) raw(n protowire.Number, v []byte) wbuf {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func (b wbuf) uint(n protowire.Number, v uint64) wbuf {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func (b wbuf) int(n protowire.Number, v int) wbuf {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeZigZag(int64(v)))
}

// intAlways appends v even when it is zero: for repeated fields whose
// position counts.
func (b wbuf) intAlways(n protowire.Number, v int) wbuf {
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, protowire.EncodeZigZag(int64(v)))
}

func (b wbuf) bool(n protowire.Number, v bool) wbuf {
	if !v {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, 1)
}

func (b wbuf) f64(n protowire.Number, v float64) wbuf {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(v))
}

// msg appends a nested message that fill writes; present is kept even when
// the message is empty, so a nil pointer and a pointer to a zero value
// differ.
func (b wbuf) msg(n protowire.Number, fill func(wbuf) wbuf) wbuf {
	b = protowire.AppendTag(b, n, protowire.BytesType)
	start := len(b)
	b = fill(b)
	size := len(b) - start
	var prefix [binary10]byte
	p := protowire.AppendVarint(prefix[:0], uint64(size))
	return slices.Insert(b, start, p...)
}

// binary10 is the longest varint.
const binary10 = 10

// time appends t as seconds and nanoseconds since 1970 (UTC); a zero time
// is left out.
func (b wbuf) time(n protowire.Number, t time.Time) wbuf {
	if t.IsZero() {
		return b
	}
	return b.timeMsg(n, t)
}

// timePtr appends *t when t is not nil, even a zero time.
func (b wbuf) timePtr(n protowire.Number, t *time.Time) wbuf {
	if t == nil {
		return b
	}
	return b.timeMsg(n, *t)
}

func (b wbuf) timeMsg(n protowire.Number, t time.Time) wbuf {
	return b.msg(n, func(b wbuf) wbuf {
		return b.int(1, int(t.Unix())).int(2, t.Nanosecond())
	})
}

// strMap appends m's entries in key order (the bytes must not depend on
// the map's iteration order), each a message of key (1) and value (2).
func (b wbuf) strMap(n protowire.Number, m map[string]string) wbuf {
	if len(m) == 0 {
		return b
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b = b.msg(n, func(b wbuf) wbuf {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, k)
			return b.str(2, m[k])
		})
	}
	return b
}

// rbuf reads fields: next moves to the next one, whose number is num, and
// one accessor of the right type reads its value; skip passes over fields
// the reader does not know. The first error sticks and ends the loop.
type rbuf struct {
	b   []byte
	num protowire.Number
	typ protowire.Type
	err error
}

// readBinary returns a reader of data's fields, past the format byte.
func readBinary(data []byte) *rbuf {
	if !isBinary(data) {
		return &rbuf{err: errWire}
	}
	return &rbuf{b: data[1:]}
}

func (r *rbuf) next() bool {
	if r.err != nil || len(r.b) == 0 {
		return false
	}
	num, typ, n := protowire.ConsumeTag(r.b)
	if n < 0 {
		r.err = errWire
		return false
	}
	r.b, r.num, r.typ = r.b[n:], num, typ
	return true
}

func (r *rbuf) fail() { r.err, r.b = errWire, nil }

func (r *rbuf) skip() {
	n := protowire.ConsumeFieldValue(r.num, r.typ, r.b)
	if n < 0 {
		r.fail()
		return
	}
	r.b = r.b[n:]
}

// bytes returns the field's bytes, aliasing the input.
func (r *rbuf) bytes() []byte {
	if r.typ != protowire.BytesType {
		r.fail()
		return nil
	}
	v, n := protowire.ConsumeBytes(r.b)
	if n < 0 {
		r.fail()
		return nil
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) str() string { return string(r.bytes()) }

// copied returns a copy of the field's bytes.
func (r *rbuf) copied() []byte { return slices.Clone(r.bytes()) }

func (r *rbuf) varint() uint64 {
	if r.typ != protowire.VarintType {
		r.fail()
		return 0
	}
	v, n := protowire.ConsumeVarint(r.b)
	if n < 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *rbuf) uint() uint64 { return r.varint() }

func (r *rbuf) int() int { return int(protowire.DecodeZigZag(r.varint())) }

func (r *rbuf) bool() bool { return r.varint() != 0 }

func (r *rbuf) f64() float64 {
	if r.typ != protowire.Fixed64Type {
		r.fail()
		return 0
	}
	v, n := protowire.ConsumeFixed64(r.b)
	if n < 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return math.Float64frombits(v)
}

// sub returns a reader of the nested message in the field.
func (r *rbuf) sub() *rbuf {
	v := r.bytes()
	if r.err != nil {
		return &rbuf{err: r.err}
	}
	return &rbuf{b: v}
}

// nested reads the field's nested message into v.
func (r *rbuf) nested(v binDecoder) {
	s := r.sub()
	v.readBin(s)
	r.done(s)
}

// done ends reading a nested message, passing its error on.
func (r *rbuf) done(s *rbuf) {
	if s.err != nil && r.err == nil {
		r.fail()
	}
}

func (r *rbuf) time() time.Time {
	s := r.sub()
	var sec, nsec int
	for s.next() {
		switch s.num {
		case 1:
			sec = s.int()
		case 2:
			nsec = s.int()
		default:
			s.skip()
		}
	}
	r.done(s)
	return time.Unix(int64(sec), int64(nsec)).UTC()
}

func (r *rbuf) timePtr() *time.Time {
	t := r.time()
	return &t
}

// mapEntry adds the field's key and value to *m, making the map if needed.
func (r *rbuf) mapEntry(m *map[string]string) {
	s := r.sub()
	var k, v string
	for s.next() {
		switch s.num {
		case 1:
			k = s.str()
		case 2:
			v = s.str()
		default:
			s.skip()
		}
	}
	r.done(s)
	if *m == nil {
		*m = map[string]string{}
	}
	(*m)[k] = v
}
