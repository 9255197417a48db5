package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/jsensure"
)

// Bucket is the JetStream key-value bucket that holds the shared token
// buckets: one key per limited key, its value the tokens it held at a time.
const Bucket = "boomerang-ratelimit"

// bucketTTL drops the state of a key nobody has used for a day: its bucket
// would be full by then at any sensible rate.
const bucketTTL = 24 * time.Hour

// Shared limits through token buckets kept in a JetStream key-value
// bucket, so that every node of a cluster spends the same tokens: the
// limit holds for the sum of the nodes' admissions.
//
// Not every request reaches the key-value bucket. A node takes a lease of
// tokens at a time by compare-and-set on the key's revision (reading the
// bucket, refilling it to now, taking up to the lease, writing it back
// unless another node wrote first, else reading again) and spends them
// locally for up to LeaseSpan. A lease is as large as the node's demand in
// its last lease (twice that once it was all spent), at most what the
// bucket refills in LeaseSpan and a quarter of its burst: a node that
// makes one request a second takes one token at a time, a busy one about
// ten leases a second. A refused request is remembered until the bucket
// can hold a token again, so a flood of refusals does not reach the
// key-value bucket either. The bucket's size is read at every lease: a new
// rate or burst applies to the tokens it holds (a larger burst fills in at
// the rate, not at once).
//
// Accuracy: the nodes together never admit more than the bucket holds
// (Burst, plus Rate a second), whatever their number. They may admit
// less: tokens leased to one node and not spent within LeaseSpan are lost
// to the others, at most one lease per node and span. The bucket is
// refilled on the clock of the node that takes tokens and never moved
// back, so a node whose clock runs ahead by d lets the cluster admit up
// to Rate × d more, once. When the key-value bucket cannot be reached, or
// a lease cannot be had within kvTimeout, the node falls back to a bucket
// of the same size of its own, as Local does, for fallbackSpan before it
// tries again, and logs it: NATS is needed to accept a create anyway.
type Shared struct {
	kv       jetstream.KeyValue
	fallback *Local
	logger   *slog.Logger

	mu     sync.Mutex
	leases map[string]*lease
	warned time.Time // when the fallback was last logged
}

// LeaseSpan is how long a node may spend tokens it has leased.
const LeaseSpan = 100 * time.Millisecond

// kvTimeout bounds the key-value requests of one lease: past it the node's
// own bucket decides.
const kvTimeout = 2 * time.Second

// fallbackSpan is how long a key is limited by the node's own bucket after
// its shared bucket could not be reached, before the next try: an
// unreachable bucket costs one slow request per span, not every request.
const fallbackSpan = 5 * time.Second

// lease is what a node holds of one key's shared bucket. Its lock is never
// held during a key-value request: fetching says one is under way, and the
// requests that need its tokens wait for it rather than send their own.
type lease struct {
	mu       sync.Mutex
	fetching chan struct{} // closed when the lease being taken is in; nil when none is
	leaseState
}

type leaseState struct {
	limit         Limit
	left          int       // tokens leased and not spent
	got, used     int       // the current lease's size and spent tokens
	until         time.Time // when its tokens may no longer be spent
	remaining     float64   // the shared bucket's tokens when it was taken
	deniedUntil   time.Time // the shared bucket holds no token until then
	fallbackUntil time.Time // the shared bucket was out of reach; the node's own decides until then
}

// OpenShared creates (or updates) the key-value bucket with replicas
// copies and returns a limiter on it; logger reports fallbacks.
func OpenShared(ctx context.Context, js jetstream.JetStream, replicas int, logger *slog.Logger) (*Shared, error) {
	// jsensure, not CreateOrUpdateKeyValue: nodes started at once on a fresh
	// cluster would each send an update first and wait on each other.
	kv, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Boomerang: create rate limits shared by every node",
		History:     1,
		TTL:         bucketTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: key-value bucket %s: %w", Bucket, err)
	}
	return NewShared(kv, logger), nil
}

// NewShared returns a limiter on kv, a bucket made as OpenShared makes it.
func NewShared(kv jetstream.KeyValue, logger *slog.Logger) *Shared {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Shared{kv: kv, fallback: NewLocal(), logger: logger.With("component", "ratelimit"), leases: map[string]*lease{}}
}

// Take spends a token of key's shared bucket: from this node's lease while
// it lasts, else from a new lease, which one request takes while the
// others wait for it. key must be a valid key-value key.
func (s *Shared) Take(ctx context.Context, key string, l Limit, now time.Time) Decision {
	ls := s.leaseOf(key)
	for {
		ls.mu.Lock()
		d, decided, fallback := ls.spend(l, now)
		if decided || fallback {
			ls.mu.Unlock()
			if fallback {
				return s.fallback.Take(ctx, key, l, now)
			}
			return d
		}
		if wait := ls.fetching; wait != nil {
			ls.mu.Unlock()
			select {
			case <-wait:
				continue // spend from the lease just taken, or take the next
			case <-ctx.Done(): // the client went away: it reads no answer
				return Decision{Wait: time.Second}
			}
		}
		done := make(chan struct{})
		ls.fetching = done
		want := ls.nextSize()
		ls.mu.Unlock()
		d = s.fetch(ctx, ls, key, l, want, now)
		close(done)
		return d
	}
}

// spend decides from what the node already holds of the key: a token of
// its lease, a refusal while the shared bucket is known to be empty, or
// fallback while it is out of reach. decided and fallback are both false
// when a lease must be taken. The caller holds ls.mu.
func (ls *lease) spend(l Limit, now time.Time) (d Decision, decided, fallback bool) {
	if ls.limit != l {
		ls.leaseState = leaseState{limit: l} // a new size: what was leased is given up
	}
	switch {
	case ls.left > 0 && now.Before(ls.until):
		ls.left--
		ls.used++
		return Decision{Allowed: true, Remaining: ls.remaining + float64(ls.left)}, true, false
	case now.Before(ls.deniedUntil):
		return Decision{Wait: ls.deniedUntil.Sub(now)}, true, false
	case now.Before(ls.fallbackUntil):
		return Decision{}, false, true
	}
	return Decision{}, false, false
}

// fetch takes a lease of want tokens of key's shared bucket, spends one
// for this request, and records the lease (or the refusal, or the
// fallback) for the requests after it. ls.fetching is this request's.
func (s *Shared) fetch(ctx context.Context, ls *lease, key string, l Limit, want int, now time.Time) Decision {
	// A client that goes away does not make this node fall back.
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), kvTimeout)
	got, remaining, err := s.takeShared(kctx, key, l, want, now)
	cancel()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.fetching = nil
	switch {
	case err != nil:
		s.warn(now, key, err)
		ls.fallbackUntil = now.Add(fallbackSpan)
		return s.fallback.Take(ctx, key, l, now)
	case got == 0:
		w := wait(l, remaining)
		ls.deniedUntil, ls.left = now.Add(w), 0
		return Decision{Wait: w, Remaining: remaining}
	case ls.limit != l: // resized meanwhile: the lease was of the old size; keep this request's token only
		return Decision{Allowed: true, Remaining: remaining}
	}
	ls.got, ls.used, ls.left = got, 1, got-1
	ls.until, ls.remaining = now.Add(LeaseSpan), remaining
	return Decision{Allowed: true, Remaining: remaining + float64(ls.left)}
}

// leaseOf returns this node's lease of key, making it on first use.
func (s *Shared) leaseOf(key string) *lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.leases[key]
	if ls == nil {
		ls = &lease{}
		s.leases[key] = ls
	}
	return ls
}

// nextSize is how many tokens the next lease asks for: the demand the
// last one met, twice that when it was all spent, within maxLease.
func (ls *leaseState) nextSize() int {
	n := max(ls.used, 1)
	if ls.got > 0 && ls.left == 0 {
		n = 2 * ls.got
	}
	return min(n, maxLease(ls.limit))
}

// maxLease is the largest lease of a bucket of size l: what it refills in
// LeaseSpan, at most a quarter of its burst, at least one token.
func maxLease(l Limit) int {
	n := int(l.Rate * LeaseSpan.Seconds())
	return max(1, min(n, l.Burst/4))
}

// takeShared takes up to want tokens from key's shared bucket, refilled to
// now, and returns how many it took (none when it holds less than one) and
// how many are left. When another node writes first it reads again, until
// ctx ends.
func (s *Shared) takeShared(ctx context.Context, key string, l Limit, want int, now time.Time) (got int, remaining float64, err error) {
	for ctx.Err() == nil {
		st, rev, err := s.read(ctx, key, l, now)
		if err != nil {
			return 0, 0, err
		}
		st.refill(l, now)
		if st.Tokens < 1 {
			return 0, st.Tokens, nil
		}
		got = min(want, int(st.Tokens))
		st.Tokens -= float64(got)
		data, err := json.Marshal(st)
		if err != nil {
			return 0, 0, err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, data)
		} else {
			_, err = s.kv.Update(ctx, key, data, rev)
		}
		switch {
		case err == nil:
			return got, st.Tokens, nil
		case !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			return 0, 0, fmt.Errorf("ratelimit: write %s: %w", key, err)
		}
		// Another node took tokens first: read again.
	}
	return 0, 0, fmt.Errorf("ratelimit: %s kept changing: %w", key, ctx.Err())
}

// state is a shared bucket as stored: the tokens it held at a time (Unix
// nanoseconds, on the clock of the node that wrote it).
type state struct {
	Tokens float64 `json:"tokens"`
	At     int64   `json:"at"`
}

// read returns key's bucket and its revision; a key never written (or
// expired, or unreadable) is a full bucket at revision 0 or its own.
func (s *Shared) read(ctx context.Context, key string, l Limit, now time.Time) (state, uint64, error) {
	full := state{Tokens: float64(l.Burst), At: now.UnixNano()}
	entry, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return full, 0, nil
	case err != nil:
		return state{}, 0, fmt.Errorf("ratelimit: read %s: %w", key, err)
	}
	var st state
	if json.Unmarshal(entry.Value(), &st) != nil || math.IsNaN(st.Tokens) {
		return full, entry.Revision(), nil
	}
	return st, entry.Revision(), nil
}

// refill adds what the bucket earned from its time to now, up to its
// burst. A time ahead of now (another node's clock) earns nothing and
// stays.
func (st *state) refill(l Limit, now time.Time) {
	if at := time.Unix(0, st.At); now.After(at) {
		st.Tokens += l.Rate * now.Sub(at).Seconds()
		st.At = now.UnixNano()
	}
	st.Tokens = math.Min(st.Tokens, float64(l.Burst))
}

// warn logs a fallback to the node's own bucket, at most once a minute.
func (s *Shared) warn(now time.Time, key string, err error) {
	s.mu.Lock()
	due := now.Sub(s.warned) >= time.Minute || now.Before(s.warned)
	if due {
		s.warned = now
	}
	s.mu.Unlock()
	if due {
		s.logger.Warn("the shared rate limit is out of reach; this node limits on its own meanwhile", "key", key, "err", err)
	}
}
