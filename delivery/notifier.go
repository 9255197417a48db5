package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/signing"
)

// Notifier posts signed webhooks; it implements broker.Notifier.
type Notifier struct {
	client  *http.Client
	secrets SecretSource
	timeout time.Duration
	now     func() time.Time
}

// DefaultWebhookTimeout bounds one webhook delivery.
const DefaultWebhookTimeout = 15 * time.Second

// maxReceiverBody caps what is kept of a webhook receiver's answer.
const maxReceiverBody = 1 << 10

// NewNotifier returns a notifier using client and secrets, giving each
// delivery timeout (DefaultWebhookTimeout when zero).
func NewNotifier(client *http.Client, secrets SecretSource, timeout time.Duration, now func() time.Time) *Notifier {
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	if now == nil {
		now = time.Now
	}
	return &Notifier{client: client, secrets: secrets, timeout: timeout, now: now}
}

// WebhookBody is the JSON body of a webhook.
type WebhookBody struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      WebhookData `json:"data"`
}

// WebhookData is the data member of a webhook body.
type WebhookData struct {
	TaskID   string        `json:"taskId"`
	Status   broker.Status `json:"status"`
	Attempts int           `json:"attempts"`
	Result   broker.Result `json:"result"`
}

// EncodeWebhookBody returns the body of n's webhook. It depends only on n,
// so every delivery of a notification carries the same bytes.
func EncodeWebhookBody(n broker.Notification) ([]byte, error) {
	return json.Marshal(WebhookBody{
		Type:      n.Type(),
		Timestamp: n.FinishedAt.UTC(),
		Data:      WebhookData{TaskID: n.TaskID, Status: n.Status, Attempts: n.Attempts, Result: n.Result},
	})
}

// Notify makes one delivery, signed when it is sent, with the delivery's
// traceparent when ctx holds its span. Any 2xx answer delivers it.
func (n *Notifier) Notify(ctx context.Context, note broker.Notification) broker.NotifyResult {
	start := n.now()
	res := broker.NotifyResult{StartedAt: start}
	var ph *phases
	finish := func() broker.NotifyResult {
		res.Duration = n.now().Sub(start)
		if ph != nil {
			res.Timing = ph.timing()
		}
		return res
	}
	body, err := EncodeWebhookBody(note)
	if err != nil {
		res.Error = bounded("encoding webhook: " + err.Error())
		return finish()
	}
	secrets, err := n.secrets.SigningSecrets(note.TenantID)
	if err != nil {
		res.Error = "signing secret unavailable"
		return finish()
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	ctx, ph = tracePhases(ctx, n.now)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, note.URL, bytes.NewReader(body))
	if err != nil {
		res.Error = "invalid webhook URL"
		return finish()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderTaskID, note.TaskID)
	signing.SetHeaders(req.Header, secrets, note.WebhookID, start, body)
	setTraceHeaders(ctx, req.Header)
	resp, err := n.client.Do(req)
	if err != nil {
		_, res.Error = classifyError(ctx, err, n.timeout)
		return finish()
	}
	defer resp.Body.Close()
	ph.markHeaders()
	answer, _, _ := readCapped(resp.Body, maxReceiverBody)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	ph.markBodyRead()
	res.StatusCode = resp.StatusCode
	res.ResponseBody = string(trimPartialRune(answer))
	res.Delivered = resp.StatusCode >= 200 && resp.StatusCode < 300
	if !res.Delivered {
		res.Error = fmt.Sprintf("receiver answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return finish()
}
