package ratelimit

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the time every test starts at; tests move their own clocks.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// takeN takes n times at now and counts the admitted.
func takeN(l Limiter, key string, lim Limit, now time.Time, n int) int {
	admitted := 0
	for range n {
		if l.Take(context.Background(), key, lim, now).Allowed {
			admitted++
		}
	}
	return admitted
}

func TestLocalBucket(t *testing.T) {
	t.Parallel()
	l := NewLocal()
	lim := Limit{Rate: 0.5, Burst: 2}
	if n := takeN(l, "a", lim, t0, 3); n != 2 {
		t.Fatalf("3 takes on a bucket of 2: %d admitted", n)
	}
	d := l.Take(context.Background(), "a", lim, t0)
	if d.Allowed || d.Wait != 2*time.Second || d.Remaining != 0 {
		t.Fatalf("an empty bucket: got %+v, want refused, 2 s to wait, none left", d)
	}
	if n := takeN(l, "b", lim, t0, 3); n != 2 {
		t.Fatalf("another key: %d admitted, want its own 2", n)
	}
	if n := takeN(l, "a", lim, t0.Add(2*time.Second), 2); n != 1 {
		t.Fatalf("2 s on: %d admitted, want 1", n)
	}
	if n := takeN(l, "a", Limit{Rate: 0.5, Burst: 5}, t0.Add(2*time.Second), 6); n != 5 {
		t.Fatalf("a larger bucket: %d admitted, want a full one of 5", n)
	}
}

// sharedKV returns a key-value bucket made as OpenShared makes it, and
// the JetStream it is on.
func sharedKV(t *testing.T) (jetstream.JetStream, jetstream.KeyValue) {
	t.Helper()
	js, _ := testenv.StartJetStream(t)
	s, err := OpenShared(context.Background(), js, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return js, s.kv
}

func TestSharedBucketHoldsForEveryNode(t *testing.T) {
	t.Parallel()
	_, kv := sharedKV(t)
	a, b := NewShared(kv, nil), NewShared(kv, nil)
	lim := Limit{Rate: 0.5, Burst: 4}
	admitted := 0
	for i := range 10 {
		admitted += takeN([]*Shared{a, b}[i%2], "k", lim, t0, 1)
	}
	if admitted != 4 {
		t.Fatalf("10 takes on two nodes sharing a bucket of 4: %d admitted", admitted)
	}
	d := b.Take(context.Background(), "k", lim, t0.Add(time.Second))
	if d.Allowed || d.Wait != time.Second {
		t.Fatalf("1 s on, half a token: got %+v, want refused with 1 s to wait", d)
	}
	if n := takeN(a, "k", lim, t0.Add(2*time.Second), 2) + takeN(b, "k", lim, t0.Add(2*time.Second), 2); n != 1 {
		t.Fatalf("2 s on, on both nodes: %d admitted, want 1", n)
	}
	if n := takeN(b, "other", lim, t0, 5); n != 4 {
		t.Fatalf("another key: %d admitted, want its own 4", n)
	}
}

// TestSharedLeasesGrowWithDemand shows that not every take reaches the
// key-value bucket: a node that keeps spending its lease leases more at a
// time, up to what the bucket refills in LeaseSpan, and tokens it leaves
// unspent are lost to the others only until the lease ends.
func TestSharedLeasesGrowWithDemand(t *testing.T) {
	t.Parallel()
	_, kv := sharedKV(t)
	a, b := NewShared(kv, nil), NewShared(kv, nil)
	lim := Limit{Rate: 1000, Burst: 1000} // leases of up to 100
	if n := takeN(a, "k", lim, t0, 500); n != 500 {
		t.Fatalf("500 takes of a bucket of 1000: %d admitted", n)
	}
	entry, err := kv.Get(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	// Leases of 1, 2, 4, … 64, then 100s: 11 writes for 500 tokens.
	if entry.Revision() > 15 {
		t.Errorf("500 takes wrote the shared bucket %d times", entry.Revision())
	}
	// a holds what is left of its last lease; b gets the rest of the
	// bucket, not what a holds.
	held := a.leaseOf("k").left
	if n := takeN(b, "k", lim, t0, 1000); n != 500-held {
		t.Errorf("node B, node A holding %d tokens: %d admitted, want %d", held, n, 500-held)
	}
	// Once the lease has ended, node A leases again from the bucket, which
	// has refilled meanwhile (a little: the clock moved LeaseSpan).
	later := t0.Add(LeaseSpan)
	if n := takeN(a, "k", lim, later, 1000); n != int(lim.Rate*LeaseSpan.Seconds()) {
		t.Errorf("node A after its lease ended: %d admitted, want what 100 ms refilled", n)
	}
}

// TestSharedRaceAdmitsTheBucketOnly takes from two nodes at once on a
// frozen clock, every goroutine until it is refused: exactly the bucket
// is admitted.
func TestSharedRaceAdmitsTheBucketOnly(t *testing.T) {
	t.Parallel()
	_, kv := sharedKV(t)
	nodes := []*Shared{NewShared(kv, nil), NewShared(kv, nil), NewShared(kv, nil)}
	lim := Limit{Rate: 500, Burst: 200}
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			n := 0
			for nodes[i%3].Take(context.Background(), "k", lim, t0).Allowed {
				n++
			}
			mu.Lock()
			admitted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if admitted != 200 {
		t.Fatalf("three nodes racing for a bucket of 200: %d admitted", admitted)
	}
}

// TestSharedClockBehindEarnsNothing: a node whose clock is behind the time
// the bucket was last written at earns no tokens from it, and does not
// move it back.
func TestSharedClockBehindEarnsNothing(t *testing.T) {
	t.Parallel()
	_, kv := sharedKV(t)
	a, b := NewShared(kv, nil), NewShared(kv, nil)
	lim := Limit{Rate: 1, Burst: 2}
	if n := takeN(a, "k", lim, t0.Add(10*time.Second), 3); n != 2 {
		t.Fatalf("node A: %d admitted, want 2", n)
	}
	if n := takeN(b, "k", lim, t0, 1); n != 0 {
		t.Fatalf("node B, 10 s behind: %d admitted, want 0", n)
	}
	if n := takeN(a, "k", lim, t0.Add(11*time.Second), 2); n != 1 {
		t.Fatalf("node A 1 s on: %d admitted, want 1", n)
	}
}

// TestSharedFallsBackToTheNode: with NATS out of reach, each node limits
// on its own, and says so once.
func TestSharedFallsBackToTheNode(t *testing.T) {
	t.Parallel()
	js, _ := testenv.StartJetStream(t)
	var log bytes.Buffer
	s, err := OpenShared(context.Background(), js, 1, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	js.Conn().Close()
	lim := Limit{Rate: 0.5, Burst: 3}
	if n := takeN(s, "k", lim, t0, 5); n != 3 {
		t.Fatalf("without NATS: %d admitted, want the node's own 3", n)
	}
	if got := bytes.Count(log.Bytes(), []byte("out of reach")); got != 1 {
		t.Fatalf("logged the fallback %d times, want once:\n%s", got, log.String())
	}
}

// TestSharedLimitChangeKeepsSpentTokens: a new size applies to the tokens
// the shared bucket holds.
func TestSharedLimitChangeKeepsSpentTokens(t *testing.T) {
	t.Parallel()
	_, kv := sharedKV(t)
	s := NewShared(kv, nil)
	if n := takeN(s, "k", Limit{Rate: 0.5, Burst: 2}, t0, 3); n != 2 {
		t.Fatalf("a bucket of 2: %d admitted", n)
	}
	// A larger burst refills the stored bucket up to it over time, not at
	// once: the tokens spent stay spent.
	if n := takeN(s, "k", Limit{Rate: 0.5, Burst: 10}, t0.Add(4*time.Second), 10); n != 2 {
		t.Fatalf("4 s on, a bucket of 10: %d admitted, want the 2 earned", n)
	}
}

// stalledKV is a key-value bucket whose reads hang until release, then
// fail, as they do from a node cut off from the servers that hold it. It
// counts the reads.
type stalledKV struct {
	jetstream.KeyValue
	started chan struct{} // receives at each read
	release chan struct{} // closed to let the reads fail
	mu      sync.Mutex
	reads   int
}

func (kv *stalledKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	kv.mu.Lock()
	kv.reads++
	kv.mu.Unlock()
	kv.started <- struct{}{}
	<-kv.release
	return nil, context.DeadlineExceeded
}

// TestSharedOutOfReachCostsOneRequest: while a lease is being taken from a
// bucket that does not answer, the node's other requests wait for that one
// rather than each send their own; when it fails they are all decided by
// the node's own bucket (none refused under the limit), and so is every
// request of the next fallbackSpan, with no read at all. After it the
// shared bucket is tried again.
func TestSharedOutOfReachCostsOneRequest(t *testing.T) {
	t.Parallel()
	_, real := sharedKV(t)
	kv := &stalledKV{KeyValue: real, started: make(chan struct{}, 100), release: make(chan struct{})}
	s := NewShared(kv, nil)
	lim := Limit{Rate: 100, Burst: 200}

	first := make(chan Decision, 1)
	go func() { first <- s.Take(context.Background(), "k", lim, t0) }()
	<-kv.started // the first request is taking a lease
	const waiting = 20
	var wg sync.WaitGroup
	decisions := make(chan Decision, waiting)
	for i := range waiting {
		wg.Go(func() { decisions <- s.Take(context.Background(), "k", lim, t0.Add(time.Duration(i)*time.Millisecond)) })
	}
	close(kv.release)
	wg.Wait()
	close(decisions)
	if d := <-first; !d.Allowed {
		t.Errorf("the request that found the bucket out of reach: %+v, want admitted by the node's own", d)
	}
	for d := range decisions {
		if !d.Allowed {
			t.Errorf("a request behind it: %+v, want admitted by the node's own bucket", d)
		}
	}
	if n := takeN(s, "k", lim, t0.Add(fallbackSpan-time.Millisecond), 50); n != 50 {
		t.Errorf("within the fallback span: %d of 50 admitted", n)
	}
	kv.mu.Lock()
	reads := kv.reads
	kv.mu.Unlock()
	if reads != 1 {
		t.Fatalf("the shared bucket was read %d times, want once", reads)
	}
	s.Take(context.Background(), "k", lim, t0.Add(fallbackSpan))
	if kv.reads != 2 {
		t.Fatalf("after the fallback span: %d reads, want a second try", kv.reads)
	}
}
