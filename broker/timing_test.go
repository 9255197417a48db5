package broker

import (
	"reflect"
	"testing"
	"time"
)

// TestTimingBinary: a timing keeps every phase through the binary form,
// at the microsecond precision ms gives durations; an attempt or delivery
// recorded before timings existed (no field 15, or JSON without "timing")
// reads with none, and an empty timing stays present.
func TestTimingBinary(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, time.Microsecond, 1234567 * time.Nanosecond, 3*time.Second + 7*time.Microsecond, 90 * time.Minute} {
		tm := Timing{DNSMs: ms(d), ConnectMs: ms(d + time.Microsecond), TLSMs: ms(2 * d), SendMs: ms(d / 3), TTFBMs: ms(d * 7), BodyMs: ms(d / 9), Reused: d == 0}
		a := Attempt{Number: 2, Timing: &tm}
		var got Attempt
		if err := decodeValue(encodeRecord(&a), &got); err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("%s: got %+v (%v), want %+v", d, got.Timing, err, a.Timing)
		}
	}
	old := Attempt{Number: 1, Outcome: OutcomeSucceeded, Response: Response{StatusCode: 200}}
	var got Attempt
	if err := decodeValue(encodeRecord(&old), &got); err != nil || got.Timing != nil || got.StatusCode != 200 {
		t.Errorf("attempt without timing: got %+v (%v)", got, err)
	}
	var fromJSON Delivery
	if err := decodeValue([]byte(`{"number":1,"attemptedAt":"2026-01-02T03:04:05Z","durationMs":12.5,"outcome":"delivered","round":3,"index":0}`), &fromJSON); err != nil || fromJSON.Timing != nil || fromJSON.DurationMs != 12.5 {
		t.Errorf("JSON delivery without timing: got %+v (%v)", fromJSON, err)
	}
	empty := Delivery{Number: 1, Timing: &Timing{}}
	var gotEmpty Delivery
	if err := decodeValue(encodeRecord(&empty), &gotEmpty); err != nil || !reflect.DeepEqual(gotEmpty, empty) {
		t.Errorf("empty timing: got %+v (%v), want %+v", gotEmpty, err, empty)
	}
}
