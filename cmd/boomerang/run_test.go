package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// partFunc makes a part of a function.
type partFunc func(ctx context.Context) error

func (f partFunc) Run(ctx context.Context) error { return f(ctx) }

// abortable is a part that keeps working after it is told to stop, until
// it is aborted.
type abortable struct{ aborted chan struct{} }

func (a abortable) Run(ctx context.Context) error {
	<-ctx.Done()
	<-a.aborted
	return nil
}

func (a abortable) Abort() { close(a.aborted) }

// verifyNoLeaks fails tb if goroutines other than those opts ignore are
// running. Some end only after their owner has closed them (a connection's
// reader sees the end of it), so it waits for them with a generous
// deadline, which a busy machine may need.
func verifyNoLeaks(tb testing.TB, opts ...goleak.Option) {
	tb.Helper()
	deadline := time.Now().Add(testenv.GiveUpAfter)
	for {
		err := goleak.Find(opts...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Error(err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestGroupRecordsAPartThatDies(t *testing.T) {
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())
	tests := []struct {
		name string
		run  partFunc
		want string
	}{
		{"returns an error", func(context.Context) error { return errors.New("boom") }, "broken: boom"},
		{"returns nil", func(context.Context) error { return nil }, "broken: " + errReturned.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGroup(slog.New(slog.NewTextHandler(io.Discard, nil)))
			s := g.stage()
			s.start("healthy", partFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }))
			s.start("broken", tt.run)
			<-g.Died()
			if err := g.failure(); err == nil || err.Error() != tt.want {
				t.Errorf("failure: got %v, want %s", err, tt.want)
			}
			s.stop()
			if err := g.wait(); err == nil || err.Error() != tt.want {
				t.Errorf("wait: got %v, want %s", err, tt.want)
			}
		})
	}
}

func TestGroupStopsSoftlyThenHard(t *testing.T) {
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())
	g := newGroup(slog.New(slog.NewTextHandler(io.Discard, nil)))
	soft, hard := g.stage(), g.stage()
	soft.start("stops when told", partFunc(func(ctx context.Context) error { <-ctx.Done(); return nil }))
	hard.start("stops when aborted", abortable{aborted: make(chan struct{})})
	// An hour is never reached: the part stops as soon as it is told to.
	soft.stopWithin(time.Hour)
	// No grace: the part that keeps working is aborted; without the abort
	// this would never return.
	hard.stopWithin(0)
	if err := g.wait(); err != nil {
		t.Errorf("wait: got %v, want nil", err)
	}
	if err := g.failure(); err != nil {
		t.Errorf("failure: got %v, want none: every part stopped when told", err)
	}
}

// TestNodeExitsWhenAPartDies breaks the view file under a running node:
// the tenant projector cannot apply the next event and stops. The node
// must then answer 503 on /readyz, and serving must end with the
// projector's error, as `boomerang serve` does before exiting non-zero.
func TestNodeExitsWhenAPartDies(t *testing.T) {
	t.Parallel()
	m, logBuf := newTestMain(t, t.TempDir())
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() {
		_ = m.Close()
		if t.Failed() {
			t.Logf("node log:\n%s", logBuf.String())
		}
	})
	(&testNode{Main: m}).waitReady(t)

	if err := m.viewFile.DB.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	if _, err := m.js.Publish(ctx, "tenant.broken", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.Died():
	case <-ctx.Done():
		t.Fatal("the node did not notice that its tenant projector stopped")
	}
	if r := (&testenv.Client{Base: m.URL()}).Do(t, http.MethodGet, "/readyz", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz: got %d %s, want 503", r.Status, r.Body)
	}
	err := m.runUntil(context.Background())
	if err == nil || !strings.Contains(err.Error(), "tenant projector") {
		t.Errorf("serving ended with %v, want the tenant projector's error", err)
	}
}

// TestNodeLeavesNoGoroutines runs a node with every part (dev tools and
// pprof included) through a task with a webhook, closes it, and checks that
// every goroutine the node started has ended.
func TestNodeLeavesNoGoroutines(t *testing.T) {
	// Not parallel: goleak sees the whole process, so no other test may
	// start goroutines meanwhile. The target and the receiver belong to
	// the test and run on until its end, so they start before the snapshot.
	target := testenv.NewTarget(t, answer(200))
	existing := goleak.IgnoreCurrent()
	t.Cleanup(func() { verifyNoLeaks(t, existing) }) // after the node's cleanup, which closes it
	node := MustRunMain(t, "--dev", "--pprof-addr", "127.0.0.1:0")
	client, creds := node.tenantClient(t, "acme")
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	task := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	waitTask(t, client, task.ID, 20*time.Second, webhookSettled)
	node.Stop()
}
