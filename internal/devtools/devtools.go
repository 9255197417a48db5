// Package devtools serves the helpers `boomerang serve --dev` mounts under
// /dev/ so that everything can be tried on one machine: an echo target that
// can be told to fail or be slow, and an inbox that receives webhooks and
// checks their signatures.
package devtools

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

// Handler serves /dev/echo and /dev/inbox.
type Handler struct {
	secrets func() ([]signing.Secret, error)
	now     func() time.Time
	mux     *http.ServeMux
	inbox   *Inbox
}

// New returns the dev tools; secrets gives the dev tenant's signing secrets
// for the inbox to verify webhooks with. The inbox keeps the last
// DefaultInboxSize webhooks.
func New(secrets func() ([]signing.Secret, error), now func() time.Time) *Handler {
	h := &Handler{secrets: secrets, now: now, mux: http.NewServeMux(), inbox: NewInbox(0, 0)}
	h.mux.HandleFunc("/dev/echo", h.echo)
	h.mux.HandleFunc("POST /dev/inbox", h.receive)
	h.mux.HandleFunc("GET /dev/inbox", h.list)
	return h
}

// Inbox returns the webhooks /dev/inbox received, for the dashboard's
// inbox page.
func (h *Handler) Inbox() *Inbox { return h.inbox }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// echo answers with what it was sent. ?status=503 sets the status, ?fail=2
// answers 503 to the first two attempts (by Boomerang-Attempt), ?delay=2s
// waits first.
func (h *Handler) echo(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if d, err := time.ParseDuration(q.Get("delay")); err == nil && d > 0 {
		select {
		case <-time.After(min(d, 10*time.Minute)):
		case <-r.Context().Done():
			return
		}
	}
	status := http.StatusOK
	if s, err := strconv.Atoi(q.Get("status")); err == nil && s >= 200 && s <= 599 {
		status = s
	}
	if fail, err := strconv.Atoi(q.Get("fail")); err == nil {
		if attempt, _ := strconv.Atoi(r.Header.Get("Boomerang-Attempt")); attempt <= fail {
			status = http.StatusServiceUnavailable
		}
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var payload any = string(body)
	if json.Valid(body) {
		payload = json.RawMessage(body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "attempt": r.Header.Get("Boomerang-Attempt"), "payload": payload,
	})
}

// receive takes a webhook: it checks the signature and the timestamp with
// the secrets, keeps the webhook with the verdict, and answers 204 when
// they are valid, 401 with the reason when not (so that the sender
// retries, as it would at a real receiver).
func (h *Handler) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		http.Error(w, "could not read body", http.StatusBadRequest)
		return
	}
	rec := Webhook{ReceivedAt: h.now().UTC(), WebhookID: r.Header.Get(signing.HeaderID), Headers: r.Header.Clone()}
	secrets, err := h.secrets()
	if err == nil {
		err = signing.Verify(r.Header, body, h.now(), secrets...)
	}
	rec.Verified = err == nil
	if err != nil {
		rec.Error = err.Error()
	}
	h.inbox.add(rec, body)
	if !rec.Verified {
		http.Error(w, rec.Error, http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// list answers the webhooks kept, newest first.
func (h *Handler) list(w http.ResponseWriter, _ *http.Request) {
	items := h.inbox.List()
	if items == nil {
		items = []Webhook{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
}
