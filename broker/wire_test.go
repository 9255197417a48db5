package broker

import (
	"reflect"
	"testing"
	"time"
)

// fill sets every field of the value v points to, nested ones too, to
// something other than its zero value, so that a field the binary codec
// forgets shows up as a difference.
func fill(v reflect.Value, seed int) {
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), seed)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 3, 4, 5, 6, 7, 890123456+seed, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), seed+i+1)
			}
		}
	case reflect.String:
		v.SetString("s" + string(rune('a'+seed%26)))
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(seed + 1))
	case reflect.Uint64:
		v.SetUint(uint64(seed + 100))
	case reflect.Float64:
		v.SetFloat(float64(seed) + 0.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // payloads and bodies: JSON text
			v.SetBytes([]byte(`{"k":[1,"<&>"]}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 3, 3)
		for i := range 3 {
			fill(s.Index(i), seed+i)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := range 3 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, seed+i)
			fill(e, seed+i)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		panic("fill: " + v.Kind().String())
	}
}

type binValue interface {
	binEncoder
	binDecoder
}

// TestBinaryRoundTrip encodes every event and record with each of its
// fields set, and decodes it: the binary form keeps everything. The same
// value as JSON (the format before) decodes to the same through the same
// reader.
func TestBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	values := []binValue{
		&createdEvent{}, &startedEvent{}, &attemptEvent{}, &finishedEvent{}, &canceledEvent{},
		&deliveryEvent{}, &redeliverEvent{}, &Attempt{}, &Delivery{}, &taskRecord{}, &Event{}, &MinuteStats{},
	}
	for _, v := range values {
		name := reflect.TypeOf(v).Elem().Name()
		fill(reflect.ValueOf(v).Elem(), 0)
		data := v.appendBin(newWbuf(0))
		got := reflect.New(reflect.TypeOf(v).Elem()).Interface().(binValue)
		if err := decodeValue(data, got); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Errorf("%s: binary round trip\n got %+v\nwant %+v", name, got, v)
		}
		asJSON, err := marshal(v) // as events and records were written
		if err != nil {
			t.Fatal(err)
		}
		fromJSON := reflect.New(reflect.TypeOf(v).Elem()).Interface().(binValue)
		if err := decodeValue(asJSON, fromJSON); err != nil {
			t.Fatalf("%s: JSON: %v", name, err)
		}
		if !reflect.DeepEqual(fromJSON, v) {
			t.Errorf("%s: JSON read\n got %+v\nwant %+v", name, fromJSON, v)
		}
	}
}

// TestBinaryPresence keeps what JSON told apart: a nil pointer from a
// pointer to a zero time or attempt, and the zeros of a latency histogram.
func TestBinaryPresence(t *testing.T) {
	t.Parallel()
	var zero time.Time
	rec := taskRecord{FinishedAt: &zero, Webhook: &webhookRecord{Index: -1}}
	var got taskRecord
	if err := decodeValue(encodeRecord(&rec), &got); err != nil || !reflect.DeepEqual(got, rec) {
		t.Errorf("record: got %+v (%v), want %+v", got, err, rec)
	}
	fin := finishedEvent{Attempt: &Attempt{}}
	var gotFin finishedEvent
	if err := decodeEvent(fin.appendBin(newWbuf(0)), &gotFin); err != nil || !reflect.DeepEqual(gotFin, fin) {
		t.Errorf("finished: got %+v (%v), want %+v", gotFin, err, fin)
	}
	m := MinuteStats{Attempts: 1, Latency: make([]int, latencyBucketCount)}
	m.Latency[3] = 1
	var gotM MinuteStats
	if err := decodeValue(encodeRecord(&m), &gotM); err != nil || !reflect.DeepEqual(gotM, m) {
		t.Errorf("stats: got %+v (%v), want %+v", gotM, err, m)
	}
	c := Counts{Status: map[Status]int{StatusPending: 2, StatusRunning: 0}, Webhook: map[WebhookStatus]int{WebhookDead: -1}}
	gotC := Counts{Status: map[Status]int{}, Webhook: map[WebhookStatus]int{}}
	want := Counts{Status: map[Status]int{StatusPending: 2}, Webhook: map[WebhookStatus]int{WebhookDead: -1}}
	if err := decodeCounts(encodeRecord(&c), &gotC); err != nil || !reflect.DeepEqual(gotC, want) {
		t.Errorf("counts: got %+v (%v), want %+v", gotC, err, want)
	}
}

// TestBinaryDeterministic: maps are written in key order, so that a view
// rebuilt from the stream has the same bytes as the live one.
func TestBinaryDeterministic(t *testing.T) {
	t.Parallel()
	a := Attempt{Response: Response{Headers: map[string]string{}}}
	for i := range 50 {
		a.Headers[string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	first := encodeRecord(&a)
	for range 20 {
		if again := encodeRecord(&a); string(again) != string(first) {
			t.Fatal("two encodings of one attempt differ")
		}
	}
}

// TestBinaryMalformed: truncated or garbled binary values are errors,
// never panics, and unknown fields are skipped.
func TestBinaryMalformed(t *testing.T) {
	t.Parallel()
	var ev createdEvent
	fill(reflect.ValueOf(&ev).Elem(), 0)
	data := ev.appendBin(newWbuf(0))
	for n := 1; n < len(data); n++ {
		var got createdEvent
		_ = decodeEvent(data[:n], &got) // must not panic
	}
	if err := decodeEvent([]byte{binFormat, 0xff}, &ev); err == nil {
		t.Error("a garbled tag decoded")
	}
	withUnknown := wbuf(append([]byte(nil), data...)).str(99, "from a later version").int(98, 5)
	var got createdEvent
	if err := decodeEvent(withUnknown, &got); err != nil || !reflect.DeepEqual(got, ev) {
		t.Errorf("unknown fields: got %v", err)
	}
}

func FuzzDecodeBinary(f *testing.F) {
	var ev finishedEvent
	fill(reflect.ValueOf(&ev).Elem(), 0)
	f.Add([]byte(ev.appendBin(newWbuf(0))))
	f.Fuzz(func(t *testing.T, data []byte) {
		data = append([]byte{binFormat}, data...)
		var fin finishedEvent
		_ = decodeEvent(data, &fin)
		var rec taskRecord
		_ = decodeValue(data, &rec)
		var e Event
		_ = decodeValue(data, &e)
		var created createdEvent
		_ = decodeEvent(data, &created)
	})
}
