package api

import (
	"strings"
	"time"
)

// EveryString shows a schedule's every as the API documents it: Go's
// duration form without its zero units (1h, 15m, 1m30s, 1h30m rather
// than 1h0m0s), which time.ParseDuration reads back as the same
// duration. A duration with a fraction of a second keeps Go's form.
func EveryString(d time.Duration) string {
	s := d.String()
	if d <= 0 || d%time.Second != 0 {
		return s
	}
	// Whole seconds: Go writes them as [<h>h][<m>m]<s>s, with 0m and 0s
	// where a unit is zero but a larger one is not.
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return strings.Replace(s, "h0m", "h", 1)
}
