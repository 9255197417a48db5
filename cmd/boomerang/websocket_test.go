package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestStopClosesOpenSockets: the node's graceful stop neither waits on
// open WebSockets (a hijacked connection is not the HTTP server's to wait
// for) nor drops them unannounced: each closes with 1001, going away, and
// the stop returns.
func TestStopClosesOpenSockets(t *testing.T) {
	t.Parallel()
	// Pings every 50 ms: the sockets live through many heartbeats.
	node := MustRunMain(t, "--sse-heartbeat", "50ms")
	client, _ := node.tenantClient(t, "acme")
	task := createTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // only for giving up
	defer cancel()
	base := "ws" + strings.TrimPrefix(node.URL(), "http")
	opts := &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + client.Key}}}
	// Each socket is read all along, as a client does: a ping is answered
	// only while a read is in progress, and a socket left unread through
	// a heartbeat would be taken for a dead peer (and closed without 1001).
	type socketEnd struct {
		messages [][]byte
		err      error
	}
	var ends []chan socketEnd
	created := make(chan []byte, 1)
	for i, path := range []string{"/v1/tasks/" + task.ID + "/ws", "/v1/ws"} {
		s, resp, err := websocket.Dial(ctx, base+path, opts)
		if err != nil {
			t.Fatalf("dial %s: %v (%+v)", path, err, resp)
		}
		t.Cleanup(func() { _ = s.CloseNow() })
		end := make(chan socketEnd, 1)
		ends = append(ends, end)
		go func() {
			var got socketEnd
			for {
				_, data, err := s.Read(ctx)
				if err != nil {
					got.err = err
					end <- got
					return
				}
				if i == 0 && len(got.messages) == 0 {
					created <- data
				}
				got.messages = append(got.messages, data)
			}
		}()
	}
	var first struct{ ID, Type string }
	select {
	case data := <-created:
		if json.Unmarshal(data, &first) != nil || first.Type != "created" {
			t.Fatalf("the task's socket: first message %s; want its created event", data)
		}
	case end := <-ends[0]:
		t.Fatalf("the task's socket ended before its first message: %v", end.err)
	}

	stopped := make(chan struct{})
	go func() {
		node.Stop()
		close(stopped)
	}()
	for i, end := range ends {
		got := <-end
		if code := websocket.CloseStatus(got.err); code != websocket.StatusGoingAway {
			t.Errorf("socket %d at the stop: got %v (code %d) after %d messages, want a close with 1001", i, got.err, code, len(got.messages))
		}
	}
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("the node did not stop with sockets open")
	}
}
