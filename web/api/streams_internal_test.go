package api

import (
	"fmt"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/tenant"
)

// Once every stream has closed, nothing of them is left in the counts, and
// a burst of closes returns the memory once.
func TestStreamSlotsForgetClosedStreams(t *testing.T) {
	s := newStreamSlots(Limits{MaxStreamsPerTenant: 2 * reclaimAfter, MaxTenantStreams: 2 * reclaimAfter}.WithDefaults())
	reclaimed := make(chan struct{}, 10)
	s.reclaim = func() { reclaimed <- struct{}{} }
	var releases []func()
	for i := range reclaimAfter + 10 {
		p := tenant.Principal{TenantID: "ten_" + string(rune('a'+i%26))}
		if i%3 == 0 {
			p.TaskID = fmt.Sprint("tsk_", i%100)
		}
		release, err := s.acquire(p, i%2 == 0)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		releases = append(releases, release)
	}
	for _, release := range releases {
		release()
		release() // a second call does nothing
	}
	if s.open() != 0 || len(s.tenants) != 0 || len(s.wide) != 0 || len(s.tasks) != 0 {
		t.Fatalf("after every stream closed: %d open, counts %v %v %v", s.open(), s.tenants, s.wide, s.tasks)
	}
	select {
	case <-reclaimed:
	case <-time.After(time.Minute):
		t.Fatal("the memory of the closed streams was not reclaimed")
	}
	s.mu.Lock()
	pending, closed := s.pending, s.closed
	s.mu.Unlock()
	if len(reclaimed) != 0 || closed != 0 || pending {
		t.Fatalf("%d more reclaims, %d closes counted, pending %v: want one reclaim for the burst", len(reclaimed), closed, pending)
	}
}
