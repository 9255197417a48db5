package bench

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

// startRelay serves a bare relay: it accepts a create, answers 202, calls
// the target (signed), then posts the signed result to the webhook. No
// queue, no persistence, no retries: the ceiling for the same HTTP work.
func startRelay(hc *http.Client, secret signing.Secret) (string, func(), error) {
	secrets := []signing.Secret{secret}
	srv, base, err := serveLoopback(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			TargetURL  string          `json:"targetUrl"`
			WebhookURL string          `json:"webhookUrl"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var raw [16]byte
		_, _ = rand.Read(raw[:])
		id := "tsk_" + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:])
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "status": "pending"})
		go relay(hc, secrets, id, req.TargetURL, req.WebhookURL, req.Payload)
	}))
	if err != nil {
		return "", nil, err
	}
	return base, func() { _ = srv.Close() }, nil
}

func relay(hc *http.Client, secrets []signing.Secret, id, target, webhook string, payload []byte) {
	status, body := post(hc, secrets, id, id, target, payload)
	if webhook == "" {
		return
	}
	result, _ := json.Marshal(map[string]any{"type": "task.succeeded", "timestamp": time.Now().UTC(),
		"data": map[string]any{"taskId": id, "status": "succeeded", "attempts": 1,
			"result": map[string]any{"statusCode": status, "body": json.RawMessage(body)}}})
	post(hc, secrets, "msg_"+id, id, webhook, result)
}

func post(hc *http.Client, secrets []signing.Secret, msgID, taskID, url string, body []byte) (int, []byte) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Boomerang-Task-Id", taskID)
	signing.SetHeaders(req.Header, secrets, msgID, time.Now(), body)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if !json.Valid(answer) {
		answer = []byte("null")
	}
	return resp.StatusCode, answer
}
