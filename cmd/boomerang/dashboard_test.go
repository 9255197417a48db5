package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/signing"
)

const chromiumPath = "/usr/bin/chromium"

// browser is a headless Chromium tab that records console errors,
// exceptions and browser log errors (CSP violations among them).
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

// newBrowser starts Chromium for a test. Without Chromium the test skips,
// unless BOOMERANG_REQUIRE_BROWSER=1 (as in CI), where it fails.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("BOOMERANG_REQUIRE_BROWSER") == "1" {
			t.Fatalf("Chromium is required (BOOMERANG_REQUIRE_BROWSER=1) but %s is missing", chromiumPath)
		}
		t.Skipf("no %s: dashboard tests need Chromium", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		<-done
	})
	return b
}

// do runs actions, failing the test on error or after
// testenv.GiveUpAfter.
func (b *browser) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testenv.GiveUpAfter)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// waitPath waits until the page's path starts with prefix: after a
// submit, before looking for the next page's nodes (a query begun on the
// page being left fails with "No node with given id found").
func (b *browser) waitPath(t *testing.T, prefix string) {
	t.Helper()
	testenv.WaitUntil(t, "the browser at a path starting "+prefix, func() (bool, string) {
		path, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.pathname`))
		return err == nil && strings.HasPrefix(path, prefix), fmt.Sprintf("%q (%v)", path, err)
	})
}

// get runs one action that returns a value.
func get[T any](t *testing.T, b *browser, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testenv.GiveUpAfter)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// forget404 drops the console's report of a page answered with 404.
func (b *browser) forget404() { b.forgetStatus(http.StatusNotFound) }

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	return get(t, b, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browser) html(t *testing.T, sel string) string {
	t.Helper()
	return get(t, b, chromedp.OuterHTML(chromedp.CSS(sel)))
}

// signIn signs in through the form, as a user does.
func (b *browser) signIn(t *testing.T, base, apiKey string) {
	t.Helper()
	b.do(t,
		chromedp.Navigate(base+"/signin"),
		chromedp.WaitVisible(chromedp.CSS("#apiKey")),
		chromedp.SendKeys(chromedp.CSS("#apiKey"), apiKey),
		chromedp.Submit(chromedp.CSS("#apiKey")),
		chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Main"]`)), // only signed-in pages have it
	)
	if got := b.text(t, "h1"); got != "Overview" {
		t.Fatalf("after sign-in: page %q, want Overview", got)
	}
}

// screenshots saves the current page at desktop and phone widths into
// BOOMERANG_SCREENSHOTS (or the test's temp dir), and checks that the phone
// width needs no horizontal scrolling.
func (b *browser) screenshots(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("BOOMERANG_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, size := range []struct {
		label string
		w, h  int64
	}{{"desktop", 1280, 900}, {"phone", 390, 844}} {
		b.do(t, chromedp.EmulateViewport(size.w, size.h))
		if get(t, b, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`)) {
			t.Errorf("%s at %dpx scrolls horizontally", name, size.w)
		}
		png := get(t, b, chromedp.FullScreenshot(100)) // 100: PNG, not JPEG
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, size.label)), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.do(t, chromedp.EmulateViewport(1280, 900))
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func TestDashboardInChromium(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	node := MustRunMain(t)
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(503, 200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	base := node.URL()

	b.signIn(t, base, creds.APIKey)
	b.screenshots(t, "overview-empty")

	// New tasks and their changes appear on /tasks without a reload.
	b.do(t, chromedp.Navigate(base+"/tasks"), chromedp.WaitVisible(css("table#tasks")))
	var ids []string
	for i := range 3 {
		ids = append(ids, createTask(t, client, map[string]any{
			"targetUrl": target.URL + fmt.Sprintf("/job/%d", i), "webhookUrl": receiver.URL, "payload": map[string]int{"n": i},
		}).ID)
	}
	for _, id := range ids {
		b.do(t, chromedp.WaitVisible(css("#row-"+id)))
		waitTask(t, client, id, 20*time.Second, webhookSettled)
	}
	get(t, b, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector("#row-%s .badge").textContent === "succeeded"`, ids[0]),
		chromedp.WithPollingTimeout(testenv.GiveUpAfter), chromedp.WithPollingInterval(100*time.Millisecond)))
	b.screenshots(t, "tasks")

	// A task's page shows its request, both attempts and the delivery.
	b.do(t, chromedp.Click(css("#row-"+ids[0]+" a")), chromedp.WaitVisible(css("[data-task-page]")))
	page := b.text(t, "#main")
	for _, want := range []string{"HTTP 503", "HTTP 200", "retry", "succeeded", `"n": 0`, "delivered", broker.WebhookID(ids[0])} {
		if !strings.Contains(page, want) {
			t.Errorf("task page lacks %q", want)
		}
	}
	b.screenshots(t, "task")

	// Redeliver, and see the new delivery.
	b.do(t, chromedp.Click(css(`form[action$="/redeliver"] button`)), chromedp.WaitVisible(css(".flash")))
	receiver.WaitFor(t, ids[0], 2, 10*time.Second)
	waitTask(t, client, ids[0], 10*time.Second, func(t broker.Task) bool { return len(t.Webhook.Deliveries) == 2 })
	b.do(t, chromedp.Reload(), chromedp.WaitVisible(css("[data-task-page]")))
	if n := strings.Count(b.text(t, "#wh-h ~ ol.timeline"), "delivered"); n != 2 {
		t.Errorf("deliveries shown after the redelivery: got %d, want 2", n)
	}

	// Create a task from the form.
	b.do(t,
		chromedp.Navigate(base+"/tasks/new"),
		chromedp.WaitVisible(css("#targetUrl")),
		chromedp.SendKeys(css("#targetUrl"), target.URL+"/from-form"),
		chromedp.SendKeys(css("#headers"), "X-From: dashboard"),
		chromedp.SendKeys(css("#payload"), `{"hello": "form"}`),
	)
	b.screenshots(t, "new-task")
	b.do(t, chromedp.Submit(css("#targetUrl")))
	b.waitPath(t, "/tasks/tsk_")
	b.do(t, chromedp.WaitVisible(css("[data-task-page]")))
	if flash := b.text(t, ".flash"); flash != "Task created." {
		t.Fatalf("after the form: flash %q", flash)
	}
	formTaskID := get(t, b, chromedp.AttributeValue(css("[data-task-page]"), "data-task-page")).Value
	waitTask(t, client, formTaskID, 20*time.Second, finished)
	// The page refreshes itself as the task changes, and keeps the
	// confirmation the form's redirect brought.
	get(t, b, chromedp.Poll[bool](`document.querySelector("main .badge")?.textContent === "succeeded"`,
		chromedp.WithPollingTimeout(testenv.GiveUpAfter), chromedp.WithPollingInterval(100*time.Millisecond)))
	if flash := b.text(t, ".flash"); flash != "Task created." {
		t.Fatalf("after the page refreshed itself: flash %q", flash)
	}
	calls := target.CallsFor(formTaskID) // the payload byte for byte as typed
	if len(calls) == 0 || calls[0].Header.Get("X-From") != "dashboard" || string(calls[0].Body) != `{"hello": "form"}` {
		t.Fatalf("the form's task reached the target as %+v", calls)
	}

	// Settings: a new key is shown once; revoking it makes it stop working.
	b.do(t, chromedp.Navigate(base+"/settings"), chromedp.WaitVisible(css("#key-name")),
		chromedp.SendKeys(css("#key-name"), "ci"), chromedp.Submit(css("#key-name")),
		chromedp.WaitVisible(css("#new-key")))
	newKey := strings.TrimSpace(b.text(t, "#new-key"))
	keyClient := &testenv.Client{Base: base, Key: newKey}
	if r := keyClient.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("the key made in the dashboard: got %d, want 200", r.Status)
	}
	b.screenshots(t, "settings")
	b.do(t, chromedp.Navigate(base+"/settings"), chromedp.WaitVisible(css("#key-name")))
	if html := b.html(t, "html"); strings.Contains(html, newKey) || strings.Contains(html, creds.SigningSecret) || strings.Contains(html, creds.APIKey) {
		t.Fatal("a secret is rendered after the moment it was created")
	}
	b.do(t, chromedp.Click(css(`tr:nth-child(2) form[action$="/revoke"] button`)), chromedp.WaitVisible(css(".flash")))
	if r := keyClient.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("the revoked key: got %d, want 401", r.Status)
	}
	if r := client.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("the first key after revoking the second: got %d, want 200", r.Status)
	}

	// The other pages render, at both widths.
	for _, p := range []string{"/", "/dead-letters", "/signout"} {
		b.do(t, chromedp.Navigate(base+p), chromedp.WaitVisible(css("h1")))
		b.screenshots(t, strings.Trim(strings.ReplaceAll(p, "/", "-"), "-")+"page")
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
}

func TestDashboardKeepsTenantsApart(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	node := MustRunMain(t)
	alice, _ := node.tenantClient(t, "alice")
	_, bobCreds := node.tenantClient(t, "bob")
	target := testenv.NewTarget(t, answer(200))
	secret := createTask(t, alice, map[string]any{"targetUrl": target.URL + "/alice-only", "delay": 60})

	b.signIn(t, node.URL(), bobCreds.APIKey)
	b.do(t, chromedp.Navigate(node.URL()+"/tasks"), chromedp.WaitVisible(css("table#tasks")))
	if html := b.html(t, "main"); strings.Contains(html, secret.ID) || !strings.Contains(html, "No tasks") {
		t.Fatal("bob's task list shows alice's task")
	}
	b.do(t, chromedp.Navigate(node.URL()+"/tasks/"+secret.ID), chromedp.WaitVisible(css("h1")))
	if html := b.html(t, "main"); !strings.Contains(html, "Not found") || strings.Contains(html, "alice-only") {
		t.Fatalf("bob opening alice's task: %s", html)
	}
	b.forget404() // the browser logs the 404 it was meant to get
	b.do(t, chromedp.Navigate(node.URL()+"/tasks?q="+secret.ID), chromedp.WaitVisible(css("h1")))
	if html := b.html(t, "main"); strings.Contains(html, "alice-only") {
		t.Fatal("bob's search finds alice's task")
	}
	b.do(t, chromedp.Navigate(node.URL()+"/"), chromedp.WaitVisible(css("h1")))
	if html := b.html(t, "main"); !strings.Contains(html, `<dt>In progress</dt><dd>0</dd>`) {
		t.Fatal("bob's overview counts alice's task")
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %v", errs)
	}
}

func TestDashboardKeyboard(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	node := MustRunMain(t)
	_, creds := node.tenantClient(t, "acme")
	b.signIn(t, node.URL(), creds.APIKey)
	// The first Tab reaches the skip link; Enter moves focus to the content.
	b.do(t, chromedp.Navigate(node.URL()+"/tasks"), chromedp.WaitVisible(css("h1")), chromedp.KeyEvent("\t"))
	if focused := get(t, b, chromedp.Evaluate[string](`document.activeElement.textContent`)); focused != "Skip to content" {
		t.Fatalf("first Tab focuses %q, want the skip link", focused)
	}
	b.do(t, chromedp.KeyEvent("\r"))
	if focused := get(t, b, chromedp.Evaluate[string](`document.activeElement.id`)); focused != "main" {
		t.Fatalf("the skip link moved focus to %q, want main", focused)
	}
	// Every control in the header can be reached with Tab.
	seen := map[string]bool{}
	b.do(t, chromedp.Navigate(node.URL()+"/tasks"), chromedp.WaitVisible(css("h1")))
	for range 12 {
		b.do(t, chromedp.KeyEvent("\t"))
		seen[get(t, b, chromedp.Evaluate[string](`document.activeElement.textContent.trim()`))] = true
	}
	for _, want := range []string{"Overview", "Tasks", "Dead letters", "Settings", "New task", "Sign out"} {
		if !seen[want] {
			t.Errorf("Tab never reached %q", want)
		}
	}
}

// dashboardSession signs in with the form and returns a client that sends
// the session cookie, and a way to read a page's CSRF token.
func dashboardSession(t *testing.T, base, apiKey string) (*http.Client, func(page string) string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/signin", url.Values{"apiKey": {apiKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csrf := func(page string) string {
		resp, err := c.Get(base + page)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF token on %s", page)
		}
		return string(m[1])
	}
	return c, csrf
}

func TestDashboardRedeliversDeadLettersAndRotatesSecret(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--webhook-schedule", "0s")
	client, creds := node.tenantClient(t, "acme")
	target := testenv.NewTarget(t, answer(200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	receiver.Answer(http.StatusInternalServerError)
	var ids []string
	for range 3 {
		ids = append(ids, createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL}).ID)
	}
	for _, id := range ids {
		waitTask(t, client, id, 20*time.Second, func(t broker.Task) bool { return t.Webhook.Status == broker.WebhookDead })
	}
	browser, csrf := dashboardSession(t, node.URL(), creds.APIKey)
	resp, err := browser.Get(node.URL() + "/dead-letters")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, id := range ids {
		if !strings.Contains(string(body), id) {
			t.Fatalf("dead letters page lacks %s", id)
		}
	}

	// Redeliver one selected, then all the rest.
	receiver.Answer(0)
	resp, err = browser.PostForm(node.URL()+"/dead-letters/redeliver", url.Values{"csrf": {csrf("/dead-letters")}, "id": {ids[0]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitTask(t, client, ids[0], 10*time.Second, func(t broker.Task) bool { return t.Webhook.Status == broker.WebhookDelivered })
	if got := receiver.For(ids[1]); len(got) != 1 {
		t.Fatalf("redelivering one also sent %s (%d webhooks)", ids[1], len(got))
	}
	resp, err = browser.PostForm(node.URL()+"/dead-letters/redeliver", url.Values{"csrf": {csrf("/dead-letters")}, "all": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, id := range ids[1:] {
		waitTask(t, client, id, 10*time.Second, func(t broker.Task) bool { return t.Webhook.Status == broker.WebhookDelivered })
	}

	// Rotating the secret shows the new one once; webhooks then carry
	// signatures of both.
	resp, err = browser.PostForm(node.URL()+"/settings/secret/rotate", url.Values{"csrf": {csrf("/settings")}, "overlap": {"1h"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`id="new-secret">([^<]+)<`).FindSubmatch(body)
	if m == nil {
		t.Fatal("the rotation did not show the new secret")
	}
	newSecret := html.UnescapeString(string(m[1]))
	resp, _ = browser.Get(node.URL() + "/settings")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), newSecret) {
		t.Fatal("the new secret is shown again")
	}
	fresh := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	hook := receiver.WaitFor(t, fresh.ID, 1, 10*time.Second)[0]
	if sigs := strings.Fields(hook.Header.Get("Webhook-Signature")); len(sigs) != 2 || hook.VerifyErr != nil {
		t.Fatalf("during the overlap: %d signatures, old secret verifies: %v", len(sigs), hook.VerifyErr)
	}
	ns, _ := signing.ParseSecret(newSecret)
	if err := signing.Verify(hook.Header, hook.Body, time.Now(), ns); err != nil {
		t.Fatalf("the new secret does not verify: %v", err)
	}
}
