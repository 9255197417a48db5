package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/boomerang-dev/boomerang/broker"
)

// streamSSE serves s as Server-Sent Events, holding one of the node's
// stream slots, until pumpEvents ends it.
func (a *API) streamSSE(c echo.Context, s eventStream) error {
	release, err := a.holdStream(c, s.wide)
	if err != nil {
		return err
	}
	defer release()
	w := c.Response()
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	a.pumpEvents(c.Request().Context(), s, Principal(c), sseSink{w: w})
	return nil // the response has started: however it ended, just end it
}

// sseSink writes events as Server-Sent Events: id, event type and the
// event's JSON as data; a comment as the heartbeat.
type sseSink struct{ w *echo.Response }

func (s sseSink) send(_ context.Context, e broker.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.w, "id: %d\nevent: %s\ndata: %s\n\n", e.Seq, e.Type, data)
	return err
}

func (s sseSink) flush() error {
	s.w.Flush()
	return nil
}

func (s sseSink) heartbeat(context.Context) error {
	if _, err := fmt.Fprint(s.w, ": heartbeat\n\n"); err != nil {
		return err
	}
	s.w.Flush()
	return nil
}
