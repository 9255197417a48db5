package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// socket is a WebSocket a test holds open, with a real client.
type socket struct {
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc
	pings  chan struct{} // signalled on each ping from the server
}

// socketMessage is one message as read off the socket.
type socketMessage struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// dialSocket opens a WebSocket on env's path with the headers (name, value
// pairs) and checks the handshake's answer against the API description. It
// returns the socket, or nil and the refusal. The socket closes at cleanup.
func dialSocket(t *testing.T, env *webtest.Env, path string, headers ...string) (*socket, testenv.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), streamDeadline)
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	pings := make(chan struct{}, 1)
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.URL, "http")+path, &websocket.DialOptions{
		HTTPHeader: h,
		OnPingReceived: func(context.Context, []byte) bool {
			select {
			case pings <- struct{}{}:
			default:
			}
			return true
		},
	})
	if resp == nil {
		cancel()
		t.Fatalf("dial %s: %v", path, err)
	}
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(resp.Body)
	}
	webtest.Contract(t).Check(t, resp.Request, nil, resp.StatusCode, resp.Header, body)
	answer := testenv.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if err != nil {
		cancel()
		return nil, answer
	}
	s := &socket{conn: conn, ctx: ctx, cancel: cancel, pings: pings}
	t.Cleanup(func() {
		_ = s.conn.CloseNow()
		s.cancel()
	})
	return s, answer
}

// mustDial is dialSocket failing unless the socket opened.
func mustDial(t *testing.T, env *webtest.Env, path string, headers ...string) *socket {
	t.Helper()
	s, r := dialSocket(t, env, path, headers...)
	if s == nil {
		t.Fatalf("dial %s: got %d %s, want 101", path, r.Status, r.Body)
	}
	return s
}

// next returns the next message; false once the socket closed, with its
// close code (-1 when it broke off without one).
func (s *socket) next(t testing.TB) (socketMessage, websocket.StatusCode, bool) {
	t.Helper()
	typ, data, err := s.conn.Read(s.ctx)
	if err != nil {
		if s.ctx.Err() != nil {
			t.Fatalf("the socket did not close within %s", streamDeadline)
		}
		return socketMessage{}, websocket.CloseStatus(err), false
	}
	var m socketMessage
	if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil || m.ID == "" || m.Type == "" || len(m.Data) == 0 {
		t.Fatalf("message %d %s: want a JSON text message with id, type and data", typ, data)
	}
	return m, 0, true
}

// waitClose reads until the server closes the socket and returns what it
// read and the close code.
func (s *socket) waitClose(t testing.TB) ([]socketMessage, websocket.StatusCode) {
	t.Helper()
	var got []socketMessage
	for {
		m, code, ok := s.next(t)
		if !ok {
			return got, code
		}
		got = append(got, m)
	}
}

// take reads n messages, failing if the socket closes first.
func (s *socket) take(t *testing.T, n int) []socketMessage {
	t.Helper()
	got := make([]socketMessage, 0, n)
	for len(got) < n {
		m, code, ok := s.next(t)
		if !ok {
			t.Fatalf("the socket closed (%d) after %d of %d messages", code, len(got), n)
		}
		got = append(got, m)
	}
	return got
}

// createdTask is a task as its create answers it.
type createdTask struct{ ID, StatusToken string }

// waitingTask creates a task that waits an hour and returns it.
func waitingTask(t *testing.T, c *testenv.Client) createdTask {
	t.Helper()
	var task createdTask
	c.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600}).JSON(t, &task)
	if task.ID == "" || task.StatusToken == "" {
		t.Fatal("the create answered no id or status token")
	}
	return task
}

// sameEvents fails unless the socket's messages are the SSE events: the
// same ids, types and data, byte for byte, in the same order.
func sameEvents(t *testing.T, what string, msgs []socketMessage, events []sseEvent) {
	t.Helper()
	var sent []sseEvent
	for _, e := range events {
		if !e.Heartbeat || e.Type != "" {
			sent = append(sent, e)
		}
	}
	if len(msgs) != len(sent) {
		t.Fatalf("%s: %d messages, want the %d SSE events", what, len(msgs), len(sent))
	}
	for i, e := range sent {
		if m := msgs[i]; m.ID != e.ID || m.Type != e.Type || string(m.Data) != e.Raw {
			t.Errorf("%s, message %d: got %s %s %s, want SSE's %s %s %s", what, i, m.ID, m.Type, m.Data, e.ID, e.Type, e.Raw)
		}
	}
}

// TestWebSocketCarriesTheSSEEvents: a task's socket carries exactly its SSE
// stream's events (ids, types, data; the public view to a status token) and
// closes with 1000 where the stream ends; resuming after an id, by
// ?lastEventId= or by header, skips what was read; the tenant's socket
// carries what /v1/events does.
func TestWebSocketCarriesTheSSEEvents(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	target := testenv.NewTarget(t, webtest.Answer(503, 200))
	client, creds := env.Tenant(t, "acme")
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	before := env.TaskLastSeq(t)
	var created struct{ ID, StatusToken string }
	client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL, "retries": 3}).JSON(t, &created)
	key := []string{"Authorization", "Bearer " + client.Key}
	tenantSocket := mustDial(t, env, "/v1/ws?lastEventId="+strconv.FormatUint(before, 10), key...)

	path := "/v1/tasks/" + created.ID
	events := openSSE(t, nil, env.URL+path+"/events", key...).waitEnd(t)
	msgs, code := mustDial(t, env, path+"/ws", key...).waitClose(t)
	if code != websocket.StatusNormalClosure {
		t.Errorf("the task's socket closed with %d, want 1000 once the task has settled", code)
	}
	sameEvents(t, "the key's socket", msgs, events)
	if len(msgs) < 5 || msgs[len(msgs)-1].Type != "delivered" {
		t.Fatalf("the task's events: %d, the last %+v; want a retry, success and delivery", len(msgs), msgs[len(msgs)-1])
	}

	// Resuming after the second event: by query, and by header.
	for _, resume := range [][]string{{"?lastEventId=" + msgs[1].ID}, {"", "Last-Event-ID", msgs[1].ID}} {
		s := mustDial(t, env, path+"/ws"+resume[0], append(key, resume[1:]...)...)
		rest, code := s.waitClose(t)
		if code != websocket.StatusNormalClosure || len(rest) != len(msgs)-2 || rest[0].ID != msgs[2].ID {
			t.Errorf("resumed after %s (%q): got %d messages from %v, closed %d; want the %d after it", msgs[1].ID, resume, len(rest), rest, code, len(msgs)-2)
		}
	}

	// A status token reads the public view, as on SSE.
	tokenEvents := openSSE(t, nil, env.URL+path+"/events?token="+created.StatusToken).waitEnd(t)
	tokenMsgs, _ := mustDial(t, env, path+"/ws?token="+created.StatusToken).waitClose(t)
	sameEvents(t, "the token's socket", tokenMsgs, tokenEvents)
	for _, m := range tokenMsgs {
		if strings.Contains(string(m.Data), target.URL) || strings.Contains(string(m.Data), receiver.URL) {
			t.Errorf("the token's socket shows a URL: %s", m.Data)
		}
	}

	// The tenant's socket: the same as /v1/events from the same point.
	tenantEvents := openSSE(t, nil, env.URL+"/v1/events", append(key, "Last-Event-ID", strconv.FormatUint(before, 10))...)
	var wide []sseEvent
	for len(wide) < len(msgs) {
		e, ok := tenantEvents.next(t)
		if !ok {
			t.Fatal("the tenant's SSE stream ended")
		}
		if !e.Heartbeat {
			wide = append(wide, e)
		}
	}
	sameEvents(t, "the tenant's socket", tenantSocket.take(t, len(msgs)), wide)
}

// TestWebSocketRefusesAsSSEDoes: every credential or request SSE refuses,
// the socket refuses before the upgrade with the same status and problem
// type (and nothing is held open).
func TestWebSocketRefusesAsSSEDoes(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	alice, _ := env.Tenant(t, "alice")
	bob, _ := env.Tenant(t, "bob")
	task, other := waitingTask(t, alice), waitingTask(t, alice)
	auth := func(c string) []string { return []string{"Authorization", "Bearer " + c} }
	one := "/v1/tasks/" + task.ID
	cases := []struct {
		name, sse, ws string
		headers       []string
		status        int
	}{
		{"no credential", one + "/events", one + "/ws", nil, 401},
		{"a wrong key", one + "/events", one + "/ws", auth("bk_0123456789abcdef_0123456789abcdef0123456789abcdef"), 401},
		{"a wrong key, tenant", "/v1/events", "/v1/ws", auth("bk_0123456789abcdef_0123456789abcdef0123456789abcdef"), 401},
		{"another tenant's task", one + "/events", one + "/ws", auth(bob.Key), 404},
		{"an API key in the URL", one + "/events?token=" + alice.Key, one + "/ws?token=" + alice.Key, nil, 401},
		{"another task's token", "/v1/tasks/" + other.ID + "/events?token=" + task.StatusToken, "/v1/tasks/" + other.ID + "/ws?token=" + task.StatusToken, nil, 403},
		{"a token, tenant", "/v1/events", "/v1/ws", auth(task.StatusToken), 403},
		{"a bad lastEventId", one + "/events?lastEventId=x", one + "/ws?lastEventId=x", auth(alice.Key), 400},
		{"an unknown parameter", "/v1/events?since=1", "/v1/ws?since=1", auth(alice.Key), 400},
		{"a lastEventId beyond", one + "/events?lastEventId=999999", one + "/ws?lastEventId=999999", auth(alice.Key), 400},
	}
	for _, c := range cases {
		sse := env.Client(t, "").Do(t, http.MethodGet, c.sse, nil, c.headers...)
		s, ws := dialSocket(t, env, c.ws, c.headers...)
		if s != nil {
			t.Errorf("%s: the socket opened, want %d", c.name, c.status)
			continue
		}
		var sp, wp struct{ Type string }
		_ = json.Unmarshal(sse.Body, &sp)
		_ = json.Unmarshal(ws.Body, &wp)
		if sse.Status != c.status || ws.Status != c.status || wp.Type == "" || wp.Type != sp.Type {
			t.Errorf("%s: SSE %d %s, socket %d %s; want both %d with the same problem", c.name, sse.Status, sse.Body, ws.Status, ws.Body, c.status)
		}
	}

	// Not a WebSocket handshake: a 426 problem; a malformed one: a 400
	// naming the header.
	r := alice.Do(t, http.MethodGet, one+"/ws", nil)
	if r.Status != http.StatusUpgradeRequired || r.Header.Get("Upgrade") != "websocket" || !strings.Contains(string(r.Body), "upgrade-required") {
		t.Errorf("a plain GET: got %d %v %s, want the 426 problem", r.Status, r.Header, r.Body)
	}
	handshake := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
	for field, bad := range map[string][]string{
		"Sec-WebSocket-Version": {"Sec-WebSocket-Version", "8"},
		"Sec-WebSocket-Key":     {"Sec-WebSocket-Key", "short"},
	} {
		r := alice.Do(t, http.MethodGet, "/v1/ws", nil, append(append([]string(nil), handshake...), bad...)...)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), field) {
			t.Errorf("a handshake with a bad %s: got %d %s, want a 400 naming it", field, r.Status, r.Body)
		}
	}
	if n := env.Server.OpenStreams(); n != 0 {
		t.Errorf("refused sockets hold %d stream slots", n)
	}
}

// TestWebSocketOriginPolicy: a page may open a task's socket with a status
// token in the URL only from this node's own origin or one --cors-origins
// allows; a socket with an Authorization header is no page's, whatever its
// Origin.
func TestWebSocketOriginPolicy(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{CORSOrigins: []string{"https://app.example.com"}})
	client, _ := env.Tenant(t, "acme")
	task := waitingTask(t, client)
	byToken := "/v1/tasks/" + task.ID + "/ws?token=" + task.StatusToken
	for _, c := range []struct {
		name, path, origin string
		headers            []string
		open               bool
	}{
		{"token, no Origin (not a browser)", byToken, "", nil, true},
		{"token, an allowed origin", byToken, "https://app.example.com", nil, true},
		{"token, the node's own origin", byToken, env.URL, nil, true},
		{"token, another origin", byToken, "https://evil.example", nil, false},
		{"token, Origin null", byToken, "null", nil, false},
		{"token in the header, another origin", "/v1/tasks/" + task.ID + "/ws", "https://evil.example", []string{"Authorization", "Bearer " + task.StatusToken}, true},
		{"key, another origin", "/v1/ws", "https://evil.example", []string{"Authorization", "Bearer " + client.Key}, true},
	} {
		headers := c.headers
		if c.origin != "" {
			headers = append(append([]string(nil), headers...), "Origin", c.origin)
		}
		s, r := dialSocket(t, env, c.path, headers...)
		switch {
		case c.open && s == nil:
			t.Errorf("%s: got %d %s, want the socket", c.name, r.Status, r.Body)
		case !c.open && (s != nil || r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), "forbidden-origin")):
			t.Errorf("%s: got %d %s, want 403 forbidden-origin", c.name, r.Status, r.Body)
		}
		if s != nil {
			_ = s.conn.Close(websocket.StatusNormalClosure, "")
		}
	}
}

// TestWebSocketCountsAgainstStreamCaps: a socket holds a stream slot as an
// SSE stream does: of the tenant, of its streams of all events, of a status
// token's task. At a cap the next socket (and the next SSE stream) is the
// 429 problem; a socket the client closes frees its slot.
func TestWebSocketCountsAgainstStreamCaps(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Limits: web.Limits{MaxStreamsPerTenant: 2, MaxTenantStreams: 1, MaxStreamsPerTask: 1}})
	client, _ := env.Tenant(t, "acme")
	task := waitingTask(t, client)
	key := []string{"Authorization", "Bearer " + client.Key}
	one := "/v1/tasks/" + task.ID

	byToken := mustDial(t, env, one+"/ws?token="+task.StatusToken)
	// (SSE through openSSE, which returns at the answer's headers: an
	// SSE stream wrongly opened would not end.)
	sse := openSSE(t, nil, env.URL+one+"/events?token="+task.StatusToken)
	wantTooManyStreams(t, "the token's SSE stream after its socket", sse.resp.StatusCode, sse.resp.Header, sse.body())

	mustDial(t, env, "/v1/ws", key...) // open until cleanup
	if n := env.Server.OpenStreams(); n != 2 {
		t.Fatalf("open streams: %d, want 2", n)
	}
	for _, path := range []string{one + "/ws", "/v1/ws"} {
		s, r := dialSocket(t, env, path, key...)
		if s != nil {
			t.Fatalf("%s over the tenant's cap opened", path)
		}
		wantTooManyStreams(t, "a socket over the tenant's cap", r.Status, r.Header, r.Body)
	}
	sse = openSSE(t, nil, env.URL+one+"/events", key...)
	wantTooManyStreams(t, "an SSE stream over the tenant's cap", sse.resp.StatusCode, sse.resp.Header, sse.body())

	// The client closes its token socket: the slot frees, and a key's
	// socket takes it; the tenant-wide cap still holds.
	if err := byToken.conn.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close: %v", err)
	}
	waitFor(t, "the closed socket's slot is freed", func() bool { return env.Server.OpenStreams() == 1 })
	s, r := dialSocket(t, env, "/v1/ws", key...)
	if s != nil || !strings.Contains(string(r.Body), "all its events") {
		t.Errorf("a second socket of all events: got %d %s, want the tenant-wide cap's 429", r.Status, r.Body)
	}
	mustDial(t, env, one+"/ws", key...)
}

// TestWebSocketEndsWithItsCredentialAndTheServer: a socket gets pings
// while idle, closes with 1008 when its status token expires (on the
// server's clock) or its key is revoked, and with 1001 when the server
// closes; each frees its slot.
func TestWebSocketEndsWithItsCredentialAndTheServer(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now())
	env := webtest.Start(t, webtest.Options{Now: clock.Now, TokensNow: clock.Now, Heartbeat: 20 * time.Millisecond})
	client, creds := env.Tenant(t, "acme")
	task := waitingTask(t, client)
	key, keyRec, err := env.TenantAdmin.CreateKey(context.Background(), creds.TenantID, "sockets")
	if err != nil {
		t.Fatal(err)
	}
	byToken := mustDial(t, env, "/v1/tasks/"+task.ID+"/ws?token="+task.StatusToken)
	byKey := mustDial(t, env, "/v1/ws", "Authorization", "Bearer "+key)
	other := mustDial(t, env, "/v1/tasks/"+task.ID+"/ws", "Authorization", "Bearer "+client.Key)
	var ends []<-chan websocket.StatusCode
	for _, s := range []*socket{byToken, byKey, other} {
		ends = append(ends, s.closing(t)) // reading answers the server's pings
		select {
		case <-s.pings:
		case <-s.ctx.Done():
			t.Fatal("no ping from the server")
		}
	}
	clock.Advance(tenant.DefaultStatusTokenTTL + time.Minute)
	if code := <-ends[0]; code != websocket.StatusPolicyViolation {
		t.Errorf("the expired token's socket closed with %d, want 1008", code)
	}
	if err := env.TenantAdmin.RevokeKey(context.Background(), creds.TenantID, keyRec.ID); err != nil {
		t.Fatal(err)
	}
	if code := <-ends[1]; code != websocket.StatusPolicyViolation {
		t.Errorf("the revoked key's socket closed with %d, want 1008", code)
	}
	waitFor(t, "the ended sockets free their slots", func() bool { return env.Server.OpenStreams() == 1 })
	env.Server.Close()
	if code := <-ends[2]; code != websocket.StatusGoingAway {
		t.Errorf("at the server's close the socket closed with %d, want 1001", code)
	}
	waitFor(t, "every slot is free", func() bool { return env.Server.OpenStreams() == 0 })
}

// closing reads the socket in a goroutine until it closes, and then sends
// its close code.
func (s *socket) closing(t *testing.T) <-chan websocket.StatusCode {
	end := make(chan websocket.StatusCode, 1)
	g := testenv.InGoroutine(t)
	go func() {
		_, code := s.waitClose(g)
		end <- code
	}()
	return end
}
