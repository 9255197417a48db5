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
	node := MustRunMain(t)
	client, _ := node.tenantClient(t, "acme")
	task := createTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second) // only for giving up
	defer cancel()
	base := "ws" + strings.TrimPrefix(node.URL(), "http")
	opts := &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + client.Key}}}
	var sockets []*websocket.Conn
	for _, path := range []string{"/v1/tasks/" + task.ID + "/ws", "/v1/ws"} {
		s, resp, err := websocket.Dial(ctx, base+path, opts)
		if err != nil {
			t.Fatalf("dial %s: %v (%+v)", path, err, resp)
		}
		t.Cleanup(func() { _ = s.CloseNow() })
		sockets = append(sockets, s)
	}
	_, data, err := sockets[0].Read(ctx)
	var first struct{ ID, Type string }
	if err != nil || json.Unmarshal(data, &first) != nil || first.Type != "created" {
		t.Fatalf("the task's socket: first message %s, %v; want its created event", data, err)
	}

	stopped := make(chan struct{})
	go func() {
		node.Stop()
		close(stopped)
	}()
	for i, s := range sockets {
		_, msg, err := s.Read(ctx)
		if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
			t.Errorf("socket %d at the stop: got %s %v (code %d), want a close with 1001", i, msg, err, code)
		}
	}
	select {
	case <-stopped:
	case <-ctx.Done():
		t.Fatal("the node did not stop with sockets open")
	}
}
