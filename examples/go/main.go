// Command receiver is a webhook receiver for Boomerang, in Go: it checks
// each webhook's signature with the Standard Webhooks library
// (github.com/standard-webhooks/standard-webhooks/libraries/go) and the
// tenant's signing secret, answers 204 to a valid one and 401 to any other,
// and handles each webhook once, however often it is delivered.
//
//	BOOMERANG_SIGNING_SECRET=whsec_... go run ./examples/go -addr 127.0.0.1:9000
//
// Then create a task with "webhookUrl": "http://127.0.0.1:9000/webhook".
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// maxBody bounds what the receiver reads of a webhook: Boomerang's carry
// the target's answer, capped by the node's --max-response-body.
const maxBody = 4 << 20

// event is the body of a Boomerang webhook.
type event struct {
	Type      string `json:"type"` // task.succeeded or task.failed
	Timestamp string `json:"timestamp"`
	Data      struct {
		TaskID   string          `json:"taskId"`
		Status   string          `json:"status"`
		Attempts int             `json:"attempts"`
		Result   json.RawMessage `json:"result"`
	} `json:"data"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	flag.Parse()
	// The secret is the tenant's signing secret (whsec_...), from the
	// environment: never from a file in the repository.
	wh, err := standardwebhooks.NewWebhook(os.Getenv("BOOMERANG_SIGNING_SECRET"))
	if err != nil {
		log.Fatalf("BOOMERANG_SIGNING_SECRET: %v", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	r := &receiver{wh: wh, seen: map[string]bool{}}
	log.Fatal(http.Serve(ln, r))
}

// receiver handles webhooks.
type receiver struct {
	wh *standardwebhooks.Webhook

	mu   sync.Mutex
	seen map[string]bool // webhook-ids handled; keep them in your database
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	// Verify the raw body, exactly as it came: parse it only afterwards.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	// Verify checks the signature and that webhook-timestamp is within five
	// minutes of now, which stops an old webhook being replayed later.
	if err := rc.wh.Verify(body, r.Header); err != nil {
		fmt.Printf("rejected %s: %v\n", r.Header.Get("webhook-id"), err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var e event
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "not a Boomerang webhook", http.StatusBadRequest)
		return
	}
	// Delivery is at least once: the same webhook-id may come again (after
	// a timeout, or a redelivery). Handle it once, answer 2xx every time.
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	repeat := rc.seen[id]
	rc.seen[id] = true
	rc.mu.Unlock()
	if repeat {
		fmt.Printf("repeated %s\n", id)
	} else {
		fmt.Printf("accepted %s: %s task %s after %d attempts\n", id, e.Type, e.Data.TaskID, e.Data.Attempts)
	}
	w.WriteHeader(http.StatusNoContent)
}
