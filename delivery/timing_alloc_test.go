package delivery

import (
	"context"
	"testing"
	"time"
)

// TestTracePhasesAllocations keeps the recorder's cost on the hot path to
// a handful of small allocations per call: the recorder, its five hooks,
// two context values and the timing recorded.
func TestTracePhasesAllocations(t *testing.T) {
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		_, p := tracePhases(ctx, time.Now)
		p.markHeaders()
		p.markBodyRead()
		_ = p.timing()
	})
	if allocs > 10 {
		t.Errorf("got %v allocations per call, want at most 10", allocs)
	}
	t.Logf("%v allocations per call", allocs)
}
