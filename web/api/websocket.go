package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// socketPeerTimeout bounds each write to a WebSocket and each ping's
// pong: a peer that takes no message, or answers no ping, within it is
// gone, and its socket is closed.
const socketPeerTimeout = 10 * time.Second

// TaskWebSocket handles GET /v1/tasks/:id/ws: the events of
// /v1/tasks/:id/events (the same ids, the same end, the same public view
// for a status token) over a WebSocket, one text message per event (see
// socketMessage). It resumes after ?lastEventId= (or a Last-Event-ID
// header).
func (a *API) TaskWebSocket(c echo.Context) error {
	s, err := a.taskStream(c)
	if err != nil {
		return err
	}
	return a.streamSocket(c, s)
}

// TenantWebSocket handles GET /v1/ws: the events of /v1/events, every
// change of all the tenant's tasks, over a WebSocket.
func (a *API) TenantWebSocket(c echo.Context) error {
	s, err := a.tenantStream(c)
	if err != nil {
		return err
	}
	return a.streamSocket(c, s)
}

// streamSocket serves s over a WebSocket. Everything that can refuse it
// (the origin, the handshake, the stream slot, which a socket holds as an
// SSE stream does) answers a problem before the upgrade; after it, the
// socket closes with a code saying why it ended (socketClose).
func (a *API) streamSocket(c echo.Context, s eventStream) error {
	if err := a.checkOrigin(c); err != nil {
		return err
	}
	if err := checkHandshake(c.Request()); err != nil {
		return err
	}
	release, err := a.holdStream(c, s.wide)
	if err != nil {
		return err
	}
	defer release()
	// checkOrigin has decided on the origin already.
	conn, err := websocket.Accept(c.Response(), c.Request(), &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		a.logger.Debug("websocket upgrade failed", "err", err)
		return nil // Accept has answered
	}
	// Nothing is read from the client but control frames: CloseRead
	// answers its pings, hears its close, and ends ctx then (a data
	// message from it closes the socket).
	ctx := conn.CloseRead(context.WithoutCancel(c.Request().Context()))
	p := Principal(c)
	end := a.pumpEvents(ctx, s, p, socketSink{conn: conn})
	code, reason, ok := socketClose(end)
	a.logger.Debug("websocket ended", "tenant_id", p.TenantID, "task_id", c.Param("id"), "close_code", int(code), "reason", reason)
	if !ok {
		_ = conn.CloseNow()
		return nil
	}
	// The close handshake is bounded by the library (5 s to write, 5 s for
	// the answer); the connection is no longer HTTP: nothing to answer.
	_ = conn.Close(code, reason)
	return nil
}

// socketClose is the close code and reason of a socket that ended for end;
// ok is false when the client has gone, and there is no one to tell.
func socketClose(end streamEnd) (code websocket.StatusCode, reason string, ok bool) {
	switch end {
	case endComplete:
		return websocket.StatusNormalClosure, "the task has settled: no more events", true
	case endShutdown:
		return websocket.StatusGoingAway, "the server is closing: reconnect with lastEventId", true
	case endCredential:
		return websocket.StatusPolicyViolation, "the credential expired or was revoked", true
	case endFailed:
		return websocket.StatusInternalError, "reading the events failed: reconnect with lastEventId", true
	}
	return 0, "", false
}

// socketMessage is one event on a WebSocket, as one JSON text message: id
// is the SSE event's id (its sequence, as a string: pass it back as
// ?lastEventId= to resume), type its event type, and data the same JSON
// as the SSE event's data.
type socketMessage struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// socketSink sends events as WebSocket messages and pings as heartbeats.
type socketSink struct{ conn *websocket.Conn }

func (s socketSink) send(ctx context.Context, e broker.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(socketMessage{ID: strconv.FormatUint(e.Seq, 10), Type: e.Type, Data: data})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, socketPeerTimeout)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, msg)
}

func (socketSink) flush() error { return nil } // each message goes out as it is written

func (s socketSink) heartbeat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, socketPeerTimeout)
	defer cancel()
	return s.conn.Ping(ctx)
}

// checkOrigin decides which pages may open a socket. A WebSocket is not
// guarded by CORS, and the danger it leaves, a page on another origin
// riding on credentials the browser adds by itself (cookies), does not
// arise here: these routes accept no cookie, and a browser cannot put an
// Authorization header on a WebSocket. So a socket with that header is
// not a page's, whatever its Origin says. What a page can do is put a
// status token in the URL; then the Origin must be this node's own, or
// one that --cors-origins allows the same token's reads from: the
// operator's choice of origins holds for sockets as for fetch and
// EventSource.
func (a *API) checkOrigin(c echo.Context) error {
	r := c.Request()
	origin := r.Header.Get("Origin")
	if origin == "" || bearer(c) != "" || a.originAllowed(origin) {
		return nil
	}
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	return problem.ForbiddenOrigin.New("A page of this origin may not open this socket with a status token: the server's --cors-origins does not allow it.")
}

// checkHandshake refuses, with a problem, a request that is not a
// WebSocket opening handshake (RFC 6455, section 4.1): a 426 when it asks
// for no upgrade (or comes over HTTP/2, which cannot be upgraded), a 400
// naming the header that is wrong.
func checkHandshake(r *http.Request) error {
	if r.ProtoMajor != 1 || !hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket") {
		return problem.UpgradeRequired.New("This route is a WebSocket: open it with a WebSocket client over HTTP/1.1, or read the same events as Server-Sent Events.").
			WithHeader("Connection", "Upgrade")
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		return problem.Invalid(problem.FieldError{Field: "Sec-WebSocket-Version", Message: "must be 13"})
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return problem.Invalid(problem.FieldError{Field: "Sec-WebSocket-Key", Message: "must be given once"})
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return problem.Invalid(problem.FieldError{Field: "Sec-WebSocket-Key", Message: "must be 16 bytes in base64"})
	}
	return nil
}

// hasToken reports whether a comma-separated header names token, in any
// case.
func hasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
