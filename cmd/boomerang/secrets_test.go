package main

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestNoSecretsInLogs runs a full scenario with the log at debug level and
// scans everything logged for every secret the scenario handled.
func TestNoSecretsInLogs(t *testing.T) {
	t.Parallel()
	_, natsPort, _ := strings.Cut(freeAddr(t), ":")
	node := MustRunMain(t, "--dev", "--log-level", "debug", "--nats-port", natsPort)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(503, 200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	receiver.Answer(http.StatusInternalServerError)

	secrets := map[string]string{
		"admin token":           testAdminToken,
		"API key":               creds.APIKey,
		"API key's secret part": creds.APIKey[strings.LastIndex(creds.APIKey, "_")+1:],
		"signing secret":        creds.SigningSecret,
		"signing secret's key":  strings.TrimPrefix(creds.SigningSecret, "whsec_"),
	}
	// Tasks that retry, fail and dead-letter, with a secret in the URL's query.
	r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{
		"targetUrl": target.URL + "/hook?token=query-secret-123", "webhookUrl": receiver.URL + "/in?sig=query-secret-456",
		"headers": map[string]string{"Authorization": "Bearer header-secret-789"},
	})
	var created struct{ ID, StatusToken string }
	r.JSON(t, &created)
	secrets["status token"] = created.StatusToken
	secrets["query secret"] = "query-secret-123"
	secrets["webhook query secret"] = "query-secret-456"
	secrets["task header secret"] = "header-secret-789"
	createTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/refused?token=query-secret-123", "retries": 0})
	waitTask(t, client, created.ID, 20*time.Second, webhookSettled)
	(&testenv.Client{Base: node.URL()}).Do(t, http.MethodGet, "/v1/tasks/"+created.ID+"/status?token="+created.StatusToken, nil)

	// The dashboard: sign in, make a key, rotate the secret.
	browser, csrf := dashboardSession(t, node.URL(), creds.APIKey)
	resp, err := browser.PostForm(node.URL()+"/settings/keys", url.Values{"csrf": {csrf("/settings")}, "name": {"ci"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = browser.PostForm(node.URL()+"/settings/secret/rotate", url.Values{"csrf": {csrf("/settings")}, "overlap": {"1h"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(node.URL())
	for _, c := range browser.Jar.Cookies(u) {
		secrets["session cookie"] = c.Value
	}
	tenant, err := node.tenants.Get(creds.TenantID)
	if err != nil || len(tenant.Keys) != 2 {
		t.Fatalf("the dashboard's key: %v %+v", err, tenant)
	}
	current, _ := node.tenants.SigningSecrets(creds.TenantID)
	secrets["rotated secret"] = current[0].String()

	for name, file := range map[string]string{"secret key": secretKeyFile, "NATS port user's seed": clientNkeyFile} {
		data, err := os.ReadFile(filepath.Join(node.Config.DataDir, file))
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = strings.TrimSpace(string(data))
	}

	logged := node.Log.String()
	if len(logged) < 1000 || !strings.Contains(logged, "level=DEBUG") {
		t.Fatalf("only %d bytes logged at debug level; the scan would prove nothing", len(logged))
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("no %s captured", name)
		}
		if strings.Contains(logged, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
}
