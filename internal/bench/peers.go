package bench

import (
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

// record is what the bench learns of one task.
type record struct {
	createStart, createEnd time.Time
	targetFirst            time.Time // first call to the target
	targetDone             time.Time // the answer that ended the task
	targetCalls            int
	webhookFirst           time.Time // first verified webhook
	webhooks               int
}

// ledger holds the records, by task id.
type ledger struct {
	mu      sync.Mutex
	tasks   map[string]*record
	bad     int // webhooks that did not verify
	done    chan struct{}
	want    int
	created int // creates answered 202
	settled int
	webhook bool
}

func newLedger(want int, webhook bool) *ledger {
	return &ledger{tasks: make(map[string]*record, want), done: make(chan struct{}), want: want, webhook: webhook}
}

func (l *ledger) get(id string) *record {
	r := l.tasks[id]
	if r == nil {
		r = &record{}
		l.tasks[id] = r
	}
	return r
}

// settle counts one more task as finished (the caller makes sure it counts
// each once), closing done after the last.
func (l *ledger) settle() {
	l.settled++
	if l.settled == l.want {
		close(l.done)
	}
}

func (l *ledger) progress() (settled, created int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.settled, l.created
}

// target is the task target: it answers after delay, failing a fraction of
// calls with 400 (permanent, so the task fails at once), and records every
// call.
type target struct {
	*http.Server
	url      string
	delay    time.Duration
	failRate float64
	ledger   *ledger
}

func startTarget(l *ledger, delay time.Duration, failRate float64) (*target, error) {
	t := &target{delay: delay, failRate: failRate, ledger: l}
	srv, base, err := serveLoopback(t)
	if err != nil {
		return nil, err
	}
	t.Server, t.url = srv, base+"/target"
	return t, nil
}

func (t *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	id := r.Header.Get("Boomerang-Task-Id")
	now := time.Now()
	t.ledger.mu.Lock()
	rec := t.ledger.get(id)
	if rec.targetCalls == 0 {
		rec.targetFirst = now
	}
	rec.targetCalls++
	t.ledger.mu.Unlock()
	if t.delay > 0 {
		select {
		case <-time.After(t.delay):
		case <-r.Context().Done():
			return
		}
	}
	fail := t.failRate > 0 && rand.Float64() < t.failRate
	t.ledger.mu.Lock()
	if rec.targetDone.IsZero() {
		rec.targetDone = time.Now()
		if !t.ledger.webhook {
			t.ledger.settle()
		}
	}
	t.ledger.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if fail {
		w.WriteHeader(http.StatusBadRequest) // permanent: the task fails at once
		_, _ = w.Write([]byte(`{"error":"failed on purpose"}`))
		return
	}
	_, _ = w.Write([]byte(`{"ok":true}`))
}

// receiver takes webhooks, verifies each, and records the first.
type receiver struct {
	*http.Server
	url    string
	secret signing.Secret
	ledger *ledger
}

func startReceiver(l *ledger, secret signing.Secret) (*receiver, error) {
	rc := &receiver{secret: secret, ledger: l}
	srv, base, err := serveLoopback(rc)
	if err != nil {
		return nil, err
	}
	rc.Server, rc.url = srv, base+"/webhook"
	return rc, nil
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	now := time.Now()
	if err != nil || signing.Verify(r.Header, body, now, rc.secret) != nil {
		rc.ledger.mu.Lock()
		rc.ledger.bad++
		rc.ledger.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("Boomerang-Task-Id")
	rc.ledger.mu.Lock()
	rec := rc.ledger.get(id)
	rec.webhooks++
	if rec.webhooks == 1 {
		rec.webhookFirst = now
		rc.ledger.settle()
	}
	rc.ledger.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// serveLoopback serves h on a free port of 127.0.0.1 and returns the server
// and its base URL.
func serveLoopback(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}
