package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web"
	"github.com/boomerang-dev/boomerang/web/problem"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// waitFor polls cond until it holds, failing after a generous deadline
// (only for giving up).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(streamDeadline); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, streamDeadline)
		}
	}
}

// wantTooManyStreams fails unless the answer is the too-many-streams
// problem with a Retry-After.
func wantTooManyStreams(t *testing.T, what string, status int, header http.Header, body []byte) {
	t.Helper()
	var p problem.Problem
	_ = json.Unmarshal(body, &p)
	if status != http.StatusTooManyRequests || p.Type != problem.Base+"too-many-streams" || header.Get("Retry-After") == "" ||
		header.Get("Content-Type") != problem.ContentType {
		t.Errorf("%s over the cap: got %d %v %s, want a 429 too-many-streams problem with Retry-After", what, status, header, body)
	}
}

// TestStreamCapsRefuseTheNextStream: a tenant holding its cap of long-polls
// and event streams is refused the next one of every kind with a 429, while
// the rest of the API works and another tenant still streams, up to the
// node's cap; a status token holds at most its task's cap. Closing a
// stream frees its slot.
func TestStreamCapsRefuseTheNextStream(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Limits: web.Limits{MaxStreams: 4, MaxStreamsPerTenant: 3, MaxStreamsPerTask: 1, MaxTenantStreams: 1}})
	alice, aliceCreds := env.Tenant(t, "alice")
	bob, _ := env.Tenant(t, "bob")
	target := "http://127.0.0.1:1/"
	a1 := webtest.CreateTask(t, alice, map[string]any{"targetUrl": target, "delay": 3600})
	var created struct{ ID, StatusToken string }
	alice.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": target, "delay": 3600}).JSON(t, &created)
	auth := func(c string) []string { return []string{"Authorization", "Bearer " + c} }

	// A status token: one stream of its task, then 429.
	byToken := openSSE(t, nil, env.URL+"/v1/tasks/"+created.ID+"/events?token="+created.StatusToken)
	if byToken.resp.StatusCode != http.StatusOK {
		t.Fatalf("the token's first stream: %d", byToken.resp.StatusCode)
	}
	r := env.Client(t, created.StatusToken).Do(t, http.MethodGet, "/v1/tasks/"+created.ID+"?wait=30s", nil)
	wantTooManyStreams(t, "the token's long-poll", r.Status, r.Header, r.Body)

	// Alice: two more streams with her key reach her cap of three.
	first := openSSE(t, nil, env.URL+"/v1/tasks/"+a1.ID+"/events", auth(alice.Key)...)
	openSSE(t, nil, env.URL+"/v1/events", auth(alice.Key)...)
	if n := env.Server.OpenStreams(); n != 3 {
		t.Fatalf("open streams: %d, want 3", n)
	}
	seq := env.TaskLastSeq(t)
	for _, path := range []string{"/v1/tasks/" + a1.ID + "/events", "/v1/events", "/v1/tasks/" + a1.ID + "?wait=30s", "/live"} {
		if path == "/live" {
			session, _ := env.SignIn(t, aliceCreds.APIKey)
			s := openSSE(t, session, env.URL+path, "Accept", "text/event-stream")
			wantTooManyStreams(t, "alice's /live", s.resp.StatusCode, s.resp.Header, s.body())
			if !s.resp.Close {
				t.Error("the refusal keeps the connection open")
			}
			continue
		}
		r := alice.Do(t, http.MethodGet, path, nil)
		wantTooManyStreams(t, "alice's "+path, r.Status, r.Header, r.Body)
	}
	// Nothing else is refused or changed: reads, a long-poll that need not
	// wait, creates.
	if r := alice.Do(t, http.MethodGet, "/v1/tasks/"+a1.ID, nil); r.Status != http.StatusOK {
		t.Errorf("a plain read over the stream cap: %d", r.Status)
	}
	if r := alice.Do(t, http.MethodGet, "/v1/tasks/"+a1.ID+"?wait=30s", nil, "If-None-Match", `"0"`); r.Status != http.StatusOK {
		t.Errorf("a long-poll answered at once, over the stream cap: %d", r.Status)
	}
	if got := env.TaskLastSeq(t); got != seq {
		t.Errorf("the refused streams published: stream at %d, was %d", got, seq)
	}
	webtest.CreateTask(t, alice, map[string]any{"targetUrl": target, "delay": 3600})

	// Bob streams all his events: one is his cap of those; the node's
	// fourth stream. His second is over the node's cap.
	b1 := webtest.CreateTask(t, bob, map[string]any{"targetUrl": target, "delay": 3600})
	if s := openSSE(t, nil, env.URL+"/v1/events", auth(bob.Key)...); s.resp.StatusCode != http.StatusOK {
		t.Fatalf("bob's stream: %d", s.resp.StatusCode)
	}
	r = bob.Do(t, http.MethodGet, "/v1/tasks/"+b1.ID+"/events", nil)
	wantTooManyStreams(t, "bob's second, over the node's cap", r.Status, r.Header, r.Body)
	if !strings.Contains(string(r.Body), "node") {
		t.Errorf("the node's refusal does not say so: %s", r.Body)
	}

	// Closing a stream frees its slot: alice streams again, though not a
	// second stream of all her events.
	first.close()
	waitFor(t, "the closed stream's slot is freed", func() bool { return env.Server.OpenStreams() == 3 })
	r = alice.Do(t, http.MethodGet, "/v1/events", nil)
	wantTooManyStreams(t, "alice's second stream of all her events", r.Status, r.Header, r.Body)
	if !strings.Contains(string(r.Body), "all its events") {
		t.Errorf("the refusal does not name the cap of streams of all events: %s", r.Body)
	}
	if s := openSSE(t, nil, env.URL+"/v1/tasks/"+a1.ID+"/events", auth(alice.Key)...); s.resp.StatusCode != http.StatusOK {
		t.Fatalf("a stream after one closed: %d %s", s.resp.StatusCode, s.body())
	}
}

// TestClosedStreamsLeaveNothing opens many streams of every kind (long-polls,
// SSE streams, WebSockets), closes them, and waits for the goroutines to
// come back to where they were and every slot to be free. It counts the process's goroutines, so it does not
// run in parallel with other tests (they start once it has ended).
func TestClosedStreamsLeaveNothing(t *testing.T) {
	env := webtest.Start(t, webtest.Options{Heartbeat: 20 * time.Millisecond})
	client, _ := env.Tenant(t, "acme")
	var created struct{ ID, StatusToken string }
	client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600}).JSON(t, &created)
	transport := &http.Transport{}
	hc := &http.Client{Transport: transport}
	warm := openSSE(t, hc, env.URL+"/v1/events", "Authorization", "Bearer "+client.Key)
	warm.close()
	waitFor(t, "the warm-up stream closes", func() bool { return env.Server.OpenStreams() == 0 })
	transport.CloseIdleConnections()
	before := runtime.NumGoroutine()

	const n = 160
	ctx, cancel := context.WithCancel(context.Background())
	polls := make(chan int, n)
	var streams []*sse
	var sockets []*socket
	for i := range n {
		if i%4 == 3 {
			sockets = append(sockets, mustDial(t, env, "/v1/tasks/"+created.ID+"/ws", "Authorization", "Bearer "+client.Key))
			continue
		}
		switch i % 3 {
		case 0:
			streams = append(streams, openSSE(t, hc, env.URL+"/v1/tasks/"+created.ID+"/events", "Authorization", "Bearer "+client.Key))
		case 1:
			streams = append(streams, openSSE(t, hc, env.URL+"/v1/events", "Authorization", "Bearer "+client.Key))
		default:
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+"/v1/tasks/"+created.ID+"?wait=60s", nil)
				req.Header.Set("Authorization", "Bearer "+client.Key)
				resp, err := hc.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				polls <- 1
			}()
		}
	}
	waitFor(t, "every stream and long-poll is open", func() bool { return env.Server.OpenStreams() == n })
	for _, s := range streams {
		s.close()
	}
	for _, s := range sockets {
		_ = s.conn.Close(websocket.StatusNormalClosure, "")
	}
	cancel()
	for range cap(polls) - len(streams) - len(sockets) {
		<-polls
	}
	waitFor(t, "every slot is free", func() bool { return env.Server.OpenStreams() == 0 })
	transport.CloseIdleConnections()
	waitFor(t, "the goroutines come back", func() bool { return runtime.NumGoroutine() <= before+10 })
}

// TestStreamEndsWithItsCredential: an event stream ends when the status
// token or the session it was opened with expires, on the server's clock,
// or when the API key it was opened with is revoked; opened again, it is a
// 401.
func TestStreamEndsWithItsCredential(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{Now: clock.Now, TokensNow: clock.Now, Heartbeat: 20 * time.Millisecond})
	client, creds := env.Tenant(t, "acme")
	var created struct{ ID, StatusToken string }
	client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600}).JSON(t, &created)
	key, keyRec, err := env.TenantAdmin.CreateKey(context.Background(), creds.TenantID, "streams")
	if err != nil {
		t.Fatal(err)
	}
	session, _ := env.SignIn(t, creds.APIKey)

	byToken := openSSE(t, nil, env.URL+"/v1/tasks/"+created.ID+"/events?token="+created.StatusToken)
	byKey := openSSE(t, nil, env.URL+"/v1/events", "Authorization", "Bearer "+key)
	live := openSSE(t, session, env.URL+"/live", "Accept", "text/event-stream")
	for _, s := range []*sse{byToken, byKey, live} {
		if s.resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", s.resp.Request.URL.Path, s.resp.StatusCode, s.body())
		}
		s.waitHeartbeat(t) // open, and checking its credential
	}

	// Past the session's life (an hour), not the token's (a day).
	clock.Advance(tenant.SessionTTL + time.Minute)
	live.waitEnd(t)
	byToken.waitHeartbeat(t)
	clock.Advance(tenant.DefaultStatusTokenTTL)
	byToken.waitEnd(t)
	r := env.Client(t, "").Do(t, http.MethodGet, "/v1/tasks/"+created.ID+"/events?token="+created.StatusToken, nil)
	if r.Status != http.StatusUnauthorized {
		t.Errorf("the expired token's stream, opened again: %d %s, want 401", r.Status, r.Body)
	}

	// The key's stream outlives both, until the key is revoked.
	byKey.waitHeartbeat(t)
	if err := env.TenantAdmin.RevokeKey(context.Background(), creds.TenantID, keyRec.ID); err != nil {
		t.Fatal(err)
	}
	byKey.waitEnd(t)
	if r := env.Client(t, key).Do(t, http.MethodGet, "/v1/events", nil); r.Status != http.StatusUnauthorized {
		t.Errorf("the revoked key's stream, opened again: %d, want 401", r.Status)
	}
	waitFor(t, "every slot is free", func() bool { return env.Server.OpenStreams() == 0 })
	var task broker.Task
	client.Do(t, http.MethodGet, "/v1/tasks/"+created.ID, nil).JSON(t, &task)
	if task.Status != broker.StatusPending {
		t.Errorf("the task after its streams ended: %s", task.Status)
	}
}
