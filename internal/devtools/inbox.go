package devtools

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"
)

// Defaults of the inbox's bounds.
const (
	// DefaultInboxSize is how many webhooks the inbox keeps.
	DefaultInboxSize = 100
	// DefaultInboxBody is how much of each body it keeps, in bytes.
	DefaultInboxBody = 64 << 10
)

// Webhook is a webhook the inbox received, with the verdict on its
// signature.
type Webhook struct {
	// Seq numbers the webhooks in the order received, from 1.
	Seq        uint64    `json:"seq"`
	ReceivedAt time.Time `json:"receivedAt"`
	WebhookID  string    `json:"webhookId"`
	// Verified is true when the signature and the timestamp are valid
	// for one of the signing secrets; Error says why not.
	Verified bool        `json:"verified"`
	Error    string      `json:"error,omitempty"`
	Headers  http.Header `json:"headers"`
	// Body is the body as received when it is JSON, else a JSON string of
	// its text. Only its first bytes are kept when it was longer than the
	// inbox keeps (BodyTruncated): then it is a string.
	Body          json.RawMessage `json:"body"`
	BodyTruncated bool            `json:"bodyTruncated,omitempty"`
}

// Inbox holds the last webhooks received, in memory, and tells watchers
// when another one arrives. It is bounded: at most size webhooks, of at
// most maxBody bytes of body each (headers are bounded by the HTTP
// server). It is safe for concurrent use.
type Inbox struct {
	size, maxBody int

	mu      sync.Mutex
	items   []Webhook // oldest first
	last    uint64
	changed chan struct{} // closed at the next Add
}

// NewInbox returns an empty inbox that keeps the last size webhooks and
// maxBody bytes of each body (the defaults when not positive).
func NewInbox(size, maxBody int) *Inbox {
	if size <= 0 {
		size = DefaultInboxSize
	}
	if maxBody <= 0 {
		maxBody = DefaultInboxBody
	}
	return &Inbox{size: size, maxBody: maxBody, changed: make(chan struct{})}
}

// Size is how many webhooks the inbox keeps.
func (in *Inbox) Size() int { return in.size }

// add keeps a webhook (its body cut to the inbox's bound), numbers it,
// drops the oldest beyond the bound and wakes the watchers.
func (in *Inbox) add(w Webhook, body []byte) Webhook {
	w.Body, w.BodyTruncated = in.keepBody(body)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.last++
	w.Seq = in.last
	in.items = append(in.items, w)
	if drop := len(in.items) - in.size; drop > 0 {
		in.items = append(in.items[:0:0], in.items[drop:]...)
	}
	close(in.changed)
	in.changed = make(chan struct{})
	return w
}

// keepBody is what the inbox keeps of a body: JSON as it is, anything else
// as a JSON string, and only the first maxBody bytes (as a string).
func (in *Inbox) keepBody(body []byte) (json.RawMessage, bool) {
	truncated := len(body) > in.maxBody
	if truncated {
		body = body[:in.maxBody]
		// Not in the middle of a character (text cut short stays text).
		for i := 0; i < utf8.UTFMax-1 && len(body) > 0 && !utf8.Valid(body); i++ {
			body = body[:len(body)-1]
		}
	} else if json.Valid(body) {
		return append(json.RawMessage(nil), body...), false
	}
	s, _ := json.Marshal(string(body))
	return s, truncated
}

// List returns the webhooks kept, newest first.
func (in *Inbox) List() []Webhook { return in.After(0) }

// After returns the webhooks kept that came after seq, newest first.
func (in *Inbox) After(seq uint64) []Webhook {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []Webhook
	for i := len(in.items) - 1; i >= 0 && in.items[i].Seq > seq; i-- {
		out = append(out, in.items[i])
	}
	return out
}

// Get returns webhook seq, if it is still kept.
func (in *Inbox) Get(seq uint64) (Webhook, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, w := range in.items {
		if w.Seq == seq {
			return w, true
		}
	}
	return Webhook{}, false
}

// Last is the number of the last webhook received, 0 before the first.
func (in *Inbox) Last() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.last
}

// Changed returns a channel that is closed when the next webhook arrives.
// Take it before reading, so that none arrives unseen in between.
func (in *Inbox) Changed() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.changed
}
