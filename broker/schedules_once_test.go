package broker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestScheduleCreateOnce: a key answers its schedule within the window and
// creates anew after it; a create cut off after claiming its key is
// completed by the repeat, with the recorded schedule, armed.
func TestScheduleCreateOnce(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := NewSchedules(b.pub, quiet, clock)
	once := ScheduleOnce{Key: "k1", RequestHash: "h1", Window: time.Hour}
	timing := ScheduleTiming{Every: time.Hour}

	first, replay, err := s.CreateOnce(ctx, "ten_a", timing, scheduleTemplate, once)
	if err != nil || replay {
		t.Fatalf("create: %v, replay %v", err, replay)
	}
	again, replay, err := s.CreateOnce(ctx, "ten_a", timing, scheduleTemplate, once)
	if err != nil || !replay || again.ID != first.ID {
		t.Fatalf("repeat: got %v %v %v, want a replay of %s", again, replay, err, first.ID)
	}
	if _, _, err := s.CreateOnce(ctx, "ten_a", timing, scheduleTemplate, ScheduleOnce{Key: "k1", RequestHash: "h2", Window: time.Hour}); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("another request: got %v, want ErrIdempotencyMismatch", err)
	}
	mu.Lock()
	now = now.Add(time.Hour + time.Second)
	mu.Unlock()
	later, replay, err := s.CreateOnce(ctx, "ten_a", timing, scheduleTemplate, ScheduleOnce{Key: "k1", RequestHash: "h2", Window: time.Hour})
	if err != nil || replay || later.ID == first.ID {
		t.Fatalf("after the window: got %v %v %v, want a new schedule", later, replay, err)
	}

	// A create cut off once its key was claimed: the record, no schedule.
	sc, err := s.newSchedule(ctx, "ten_a", timing, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	subject := scheduleOnceSubject("ten_a", "k2")
	if _, err := b.pub.writeOnce(ctx, subject, &onceRecord{RequestHash: "h", CreatedAt: sc.CreatedAt, Schedule: sc}, 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "ten_a", sc.ID); !errors.Is(err, ErrScheduleNotFound) {
		t.Fatalf("before the repeat: got %v, want no schedule", err)
	}
	done, replay, err := s.CreateOnce(ctx, "ten_a", timing, scheduleTemplate, ScheduleOnce{Key: "k2", RequestHash: "h", Window: time.Hour})
	if err != nil || !replay || done.ID != sc.ID {
		t.Fatalf("repeat of a cut-off create: got %v %v %v, want %s", done, replay, err, sc.ID)
	}
	got, err := s.Get(ctx, "ten_a", sc.ID)
	if err != nil || got.NextFiringAt == nil {
		t.Fatalf("the completed schedule: %+v, %v; want it stored and armed", got, err)
	}
	rec, _, err := b.pub.onceRecord(ctx, subject)
	if err != nil || !rec.Done {
		t.Fatalf("the key's record: %+v, %v; want it done", rec, err)
	}
}
