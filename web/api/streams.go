package api

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// Default caps on the connections a node holds open: long-polls, event
// streams (task, tenant, the dashboard's /live) and any later streaming
// connection. Each costs about 35 KB and two goroutines while open.
const (
	DefaultMaxStreams          = 10000
	DefaultMaxStreamsPerTenant = 1000
	DefaultMaxStreamsPerTask   = 10
	// DefaultMaxTenantStreams bounds the streams of all a tenant's events,
	// a part of its streams: every change of any of its tasks wakes each
	// of them, so their cost is their number times the tenant's rate of
	// changes (1,000 of them made each create take 20-30 ms on two cores).
	DefaultMaxTenantStreams = 50
)

// streamRetryAfter is the Retry-After of a refused stream, in seconds:
// when a slot frees is not known.
const streamRetryAfter = 5

// Memory of closed streams goes back to the system once reclaimAfter of
// them have closed, reclaimDelay after the first (so that a burst of
// closes is reclaimed once): net/http and echo keep each connection's
// buffers in sync.Pools, which only garbage collections empty, and an idle
// node collects every two minutes; without it 10,000 closed streams keep
// their ~350 MB for about four.
const (
	reclaimAfter = 1000
	reclaimDelay = 2 * time.Second
)

// streamSlots counts the open streams of the node, of each tenant, and of
// each task read with a status token, and refuses one over a cap. Nothing
// stays behind a closed stream: a count at zero is deleted.
type streamSlots struct {
	maxNode, maxTenant, maxTask, maxWide int

	mu      sync.Mutex
	node    int
	tenants map[string]int
	wide    map[string]int // tenant -> streams of all its events
	tasks   map[string]int // "tenant/task" -> streams opened with status tokens
	closed  int            // since the last reclaim
	reclaim func()         // returns freed memory to the system
	pending bool           // a reclaim is scheduled
}

func newStreamSlots(l Limits) *streamSlots {
	return &streamSlots{
		maxNode: l.MaxStreams, maxTenant: l.MaxStreamsPerTenant, maxTask: l.MaxStreamsPerTask, maxWide: l.MaxTenantStreams,
		tenants: map[string]int{}, wide: map[string]int{}, tasks: map[string]int{},
		reclaim: func() { runtime.GC(); debug.FreeOSMemory() }, // two collections: one empties the pools into their victim caches, the next frees those
	}
}

// acquire takes a slot for p's stream, a stream of all the tenant's
// events when wide, or returns the too-many-streams problem naming the cap
// that is full. release gives the slot back; call it once.
func (s *streamSlots) acquire(p tenant.Principal, wide bool) (release func(), err error) {
	task := ""
	if p.TaskID != "" {
		task = p.TenantID + "/" + p.TaskID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.node >= s.maxNode:
		return nil, tooManyStreams(fmt.Sprintf("This node holds as many long-polls and event streams as it may (%d); retry, or follow the task by polling its status.", s.maxNode))
	case s.tenants[p.TenantID] >= s.maxTenant:
		return nil, tooManyStreams(fmt.Sprintf("This tenant holds %d long-polls and event streams open on this node, as many as it may; close one first.", s.maxTenant))
	case wide && s.wide[p.TenantID] >= s.maxWide:
		return nil, tooManyStreams(fmt.Sprintf("This tenant holds %d streams of all its events open on this node, as many as it may; close one first, or follow single tasks.", s.maxWide))
	case task != "" && s.tasks[task] >= s.maxTask:
		return nil, tooManyStreams(fmt.Sprintf("This task's status token holds %d long-polls and event streams open, as many as it may; close one first.", s.maxTask))
	}
	s.node++
	s.tenants[p.TenantID]++
	if wide {
		s.wide[p.TenantID]++
	}
	if task != "" {
		s.tasks[task]++
	}
	var once sync.Once
	return func() { once.Do(func() { s.release(p.TenantID, task, wide) }) }, nil
}

// tooManyStreams is the refusal of a stream. It closes the connection: a
// client over its cap that kept its connections open would hold what the
// cap bounds (a goroutine and buffers each) as idle connections instead.
func tooManyStreams(detail string) error {
	return problem.TooManyStreams.New(detail).WithHeader("Retry-After", strconv.Itoa(streamRetryAfter)).WithHeader("Connection", "close")
}

func (s *streamSlots) release(tenantID, task string, wide bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node--
	decrement(s.tenants, tenantID)
	if wide {
		decrement(s.wide, tenantID)
	}
	if task != "" {
		decrement(s.tasks, task)
	}
	s.closed++
	if s.closed >= reclaimAfter && !s.pending {
		s.pending = true
		time.AfterFunc(reclaimDelay, func() {
			s.mu.Lock()
			s.closed, s.pending = 0, false
			s.mu.Unlock()
			s.reclaim()
		})
	}
}

func decrement(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k)
		return
	}
	m[k]--
}

// open returns the number of open streams on the node.
func (s *streamSlots) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.node
}

// OpenStreams returns how many long-polls and event streams the node holds
// open now.
func (a *API) OpenStreams() int { return a.streams.open() }

// holdStream takes a stream slot for the request's principal: every
// handler that holds its connection open (a long-poll, an event stream, a
// WebSocket) calls it before it waits, and calls release when it ends.
// wide says that the stream carries all the tenant's events.
func (a *API) holdStream(c echo.Context, wide bool) (release func(), err error) {
	return a.streams.acquire(Principal(c), wide)
}
