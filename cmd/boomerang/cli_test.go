package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/signing"
)

func TestTenantCreateCommand(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"tenant", "create", "acme", "--server", node.URL(), "--admin-token", testAdminToken}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var creds struct {
		TenantID      string `json:"tenantId"`
		APIKey        string `json:"apiKey"`
		SigningSecret string `json:"signingSecret"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &creds); err != nil {
		t.Fatalf("output is not JSON: %s", stdout.String())
	}
	if !strings.HasPrefix(creds.TenantID, "ten_") || !strings.HasPrefix(creds.SigningSecret, "whsec_") || creds.APIKey == "" {
		t.Fatalf("credentials: got %+v", creds)
	}
	// The key works at once.
	c := &testenv.Client{Base: node.URL(), Key: creds.APIKey}
	if r := c.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("new key: got %d, want 200", r.Status)
	}
	// A wrong token fails with a message and a non-zero exit.
	stdout.Reset()
	stderr.Reset()
	code = run(context.Background(), []string{"tenant", "create", "x", "--server", node.URL(), "--admin-token", "wrong"}, nil, &stdout, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "401") {
		t.Fatalf("wrong token: exit %d, stderr %q", code, stderr.String())
	}
}

func TestVerifyCommand(t *testing.T) {
	t.Parallel()
	secret, _ := signing.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	body := `{"type":"task.succeeded"}`
	now := time.Now()
	h := http.Header{}
	signing.SetHeaders(h, []signing.Secret{secret}, "msg_1", now, []byte(body))
	raw := fmt.Sprintf("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nwebhook-id: %s\r\nwebhook-timestamp: %s\r\nwebhook-signature: %s\r\n\r\n%s",
		len(body), h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature"), body)

	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{"raw request", []string{"verify", "--secret", secret.String()}, raw, 0},
		{"tampered body", []string{"verify", "--secret", secret.String()}, strings.Replace(raw, "succeeded", "failed!!!", 1), 1},
		{"wrong secret", []string{"verify", "--secret", "whsec_" + strings.Repeat("A", 43) + "="}, raw, 1},
		{"headers as flags", []string{"verify", "--secret", secret.String(), "--id", "msg_1", "--timestamp", h.Get("webhook-timestamp"), "--signature", h.Get("webhook-signature")}, body, 0},
		{"old timestamp", []string{"verify", "--secret", secret.String(), "--id", "msg_1", "--timestamp", "1614265330", "--signature", h.Get("webhook-signature")}, body, 1},
		{"not a secret", []string{"verify", "--secret", "nope"}, raw, 2},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), tt.args, strings.NewReader(tt.stdin), &stdout, &stderr); code != tt.code {
			t.Errorf("%s: exit %d, want %d (%s%s)", tt.name, code, tt.code, stdout.String(), stderr.String())
		}
	}
}

func TestDevModeCreatesTenantOnceAndServesQuickstartHelpers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := mustRunMainIn(t, dir, "--dev")
	data, err := os.ReadFile(filepath.Join(dir, "dev-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var creds struct{ TenantID, APIKey, SigningSecret string }
	if err := json.Unmarshal(data, &creds); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(filepath.Join(dir, "dev-credentials.json"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("dev credentials file mode: got %o, want 600", info.Mode().Perm())
	}
	c := &testenv.Client{Base: node.URL(), Key: creds.APIKey}
	task := createTask(t, c, map[string]any{
		"targetUrl": node.URL() + "/dev/echo?fail=1", "payload": map[string]string{"hello": "world"},
		"webhookUrl": node.URL() + "/dev/inbox",
	})
	done := waitTask(t, c, task.ID, 20*time.Second, webhookSettled)
	if done.Status != "succeeded" || done.AttemptCount != 2 || done.Webhook.Status != "delivered" {
		t.Fatalf("quickstart task: got %s after %d attempts, webhook %s", done.Status, done.AttemptCount, done.Webhook.Status)
	}
	var inbox struct {
		Items []struct {
			WebhookID string `json:"webhookId"`
			Verified  bool   `json:"verified"`
		} `json:"items"`
	}
	c.Do(t, http.MethodGet, "/dev/inbox", nil).JSON(t, &inbox)
	if len(inbox.Items) != 1 || !inbox.Items[0].Verified || inbox.Items[0].WebhookID != "msg_"+task.ID {
		t.Fatalf("inbox: got %+v, want one verified webhook", inbox.Items)
	}

	// A restart keeps the same tenant and key.
	node.Stop()
	node = mustRunMainIn(t, dir, "--dev")
	c.Base = node.URL()
	if r := c.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil); r.Status != http.StatusOK {
		t.Fatalf("after restart the dev key: got %d, want 200", r.Status)
	}
	data2, _ := os.ReadFile(filepath.Join(dir, "dev-credentials.json"))
	if !bytes.Equal(data, data2) {
		t.Fatal("dev credentials changed across restarts")
	}
}

func TestDevModeOffRefusesPrivateURLs(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--allow-private-networks=false")
	client, _ := node.tenantClient(t, "acme")
	for _, u := range []string{"http://127.0.0.1:8080/x", "http://localhost/x", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://2130706433/", "http://0x7f.1/"} {
		r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": u})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "blocked") {
			t.Errorf("targetUrl %s: got %d %s, want 400 naming a blocked network", u, r.Status, r.Body)
		}
	}
	if r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "https://example.com/x", "webhookUrl": "http://192.168.1.1/"}); r.Status != http.StatusBadRequest {
		t.Errorf("private webhookUrl: got %d, want 400", r.Status)
	}
}
