package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/boomerang-dev/boomerang/internal/devtools"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
)

// devCredentials reads the dev tenant's credentials that serve --dev keeps
// in the data dir.
func devCredentials(t *testing.T, node *testNode) tenant.Credentials {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(node.Config.DataDir, "dev-credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	var creds tenant.Credentials
	if err := json.Unmarshal(data, &creds); err != nil {
		t.Fatal(err)
	}
	return creds
}

// TestInboxInChromium: under --dev the dashboard's inbox shows the webhooks
// /dev/inbox receives as they arrive, without a reload, each with its
// signature's verdict, headers and body.
func TestInboxInChromium(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	node := MustRunMain(t, "--dev")
	base := node.URL()
	creds := devCredentials(t, node)
	client := &testenv.Client{Base: base, Key: creds.APIKey, Contract: apiContract}

	b.signIn(t, base, creds.APIKey)
	b.do(t, chromedp.Click(css(`nav a[href="/inbox"]`)), chromedp.WaitVisible(css("ol#inbox")))
	if got := b.text(t, "#inbox"); !strings.Contains(got, "No webhook yet") {
		t.Fatalf("the empty inbox shows %q", got)
	}

	// A task's webhook appears at the top, verified.
	task := createTask(t, client, map[string]any{"targetUrl": base + "/dev/echo", "webhookUrl": base + "/dev/inbox",
		"payload": map[string]string{"hello": "inbox"}})
	b.do(t, chromedp.WaitVisible(css("#inbox li.hook")))
	first := b.text(t, "#inbox li.hook")
	for _, want := range []string{"signature valid", "task.succeeded", "msg_" + task.ID} {
		if !strings.Contains(first, want) {
			t.Errorf("the first webhook shows %q, lacking %q", first, want)
		}
	}
	if strings.Contains(b.text(t, "#inbox"), "No webhook yet") {
		t.Error("the empty inbox's note stayed")
	}

	// A tampered copy arrives above it, refused.
	var got struct{ Items []devtools.Webhook }
	(&testenv.Client{Base: base}).Do(t, http.MethodGet, "/dev/inbox", nil).JSON(t, &got)
	if len(got.Items) != 1 {
		t.Fatalf("GET /dev/inbox: %d webhooks, want 1", len(got.Items))
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/dev/inbox", strings.NewReader(strings.Replace(string(got.Items[0].Body), "inbox", "inb0x", 1)))
	req.Header = got.Items[0].Headers.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	get(t, b, chromedp.Poll[bool](`document.querySelectorAll("#inbox li.hook").length === 2`,
		chromedp.WithPollingTimeout(testenv.GiveUpAfter), chromedp.WithPollingInterval(100*time.Millisecond)))
	if newest := b.text(t, "#inbox li.hook:first-child summary"); !strings.Contains(newest, "signature invalid") {
		t.Errorf("the tampered webhook shows %q, want its signature invalid", newest)
	}

	// Opened, a webhook shows its headers and body.
	b.do(t, chromedp.Click(css("#inbox li.hook:nth-child(2) summary")), chromedp.WaitVisible(css("#inbox li.hook:nth-child(2) table.kv")))
	opened := b.text(t, "#inbox li.hook:nth-child(2)")
	for _, want := range []string{"webhook-signature", "v1,", "webhook-timestamp", `"hello": "inbox"`, task.ID} {
		if !strings.Contains(opened, want) {
			t.Errorf("the opened webhook lacks %q:\n%s", want, opened)
		}
	}
	b.screenshots(t, "inbox")
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
}
