package api

import (
	"testing"
	"time"
)

// TestEveryString: a whole number of seconds is shown without zero
// units, and every form reads back as the same duration.
func TestEveryString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{time.Second, "1s"},
		{30 * time.Second, "30s"},
		{90 * time.Second, "1m30s"},
		{15 * time.Minute, "15m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h1s"},
		{time.Hour + time.Minute + time.Second, "1h1m1s"},
		{366 * 24 * time.Hour, "8784h"},
		{1500 * time.Millisecond, "1.5s"},
	} {
		got := EveryString(tt.d)
		if got != tt.want {
			t.Errorf("EveryString(%v): got %q, want %q", tt.d, got, tt.want)
		}
		if back, err := time.ParseDuration(got); err != nil || back != tt.d {
			t.Errorf("%q reads back as %v (%v), want %v", got, back, err, tt.d)
		}
	}
}
