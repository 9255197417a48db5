package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/docs"
	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

const testAdminToken = "test-admin-token-0123456789"

// apiContract is the API description every test client checks its
// exchanges against.
var apiContract = func() *testenv.Contract {
	c, err := testenv.LoadContract(docs.OpenAPI)
	if err != nil {
		panic("docs/openapi.yaml: " + err.Error())
	}
	return c
}()

// syncBuffer collects a node's log; it is printed when the test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testNode is a running Main with what tests need around it.
type testNode struct {
	*Main
	Log   *syncBuffer
	Admin *testenv.Client

	stopOnce sync.Once
}

// MustRunMain runs the real program with test defaults (a temp data dir,
// a free port, fast retries) overridden by args, and closes it at cleanup.
func MustRunMain(tb testing.TB, args ...string) *testNode {
	tb.Helper()
	dataDir := tb.TempDir()
	return mustRunMainIn(tb, dataDir, args...)
}

func mustRunMainIn(tb testing.TB, dataDir string, args ...string) *testNode {
	tb.Helper()
	return mustRunMainWith(tb, dataDir, nil, args...)
}

// mustRunMainWith is mustRunMainIn with change applied to the Main before
// it runs (when not nil): to set what no flag sets, such as a clock.
func mustRunMainWith(tb testing.TB, dataDir string, change func(*Main), args ...string) *testNode {
	tb.Helper()
	m, logBuf := newTestMain(tb, dataDir, args...)
	if change != nil {
		change(m)
	}
	if err := m.Run(context.Background()); err != nil {
		tb.Fatalf("run: %v\nnode log:\n%s", err, logBuf.String())
	}
	n := &testNode{Main: m, Log: logBuf, Admin: &testenv.Client{Base: m.URL(), Key: testAdminToken, Contract: apiContract}}
	tb.Cleanup(func() {
		n.Stop()
		// Close returns why a part of the node died, if one did, even
		// when the test closed the node itself.
		if err := m.Close(); err != nil {
			tb.Errorf("the node failed during the test: %v", err)
		}
		if tb.Failed() {
			tb.Logf("node log:\n%s", logBuf.String())
		}
	})
	n.waitReady(tb)
	return n
}

// newTestMain returns a Main configured with the test defaults overridden
// by args, logging into the returned buffer; it is not running yet.
func newTestMain(tb testing.TB, dataDir string, args ...string) (*Main, *syncBuffer) {
	tb.Helper()
	defaults := []string{
		"--addr", "127.0.0.1:0", "--data-dir", dataDir, "--admin-token", testAdminToken,
		"--allow-private-networks", "--retry-initial", "100ms", "--retry-max", "400ms",
		"--webhook-schedule", "0s,200ms,200ms,200ms", "--log-level", "debug", "--shutdown-grace", "5s",
	}
	m := NewMain()
	m.Stdout = io.Discard
	if err := m.ParseFlags(append(defaults, args...), func(string) string { return "" }, io.Discard); err != nil {
		tb.Fatalf("flags: %v", err)
	}
	logBuf := &syncBuffer{}
	logger, err := m.newLogger(logBuf) // as serve does: --log-level and --log-format apply
	if err != nil {
		tb.Fatalf("logger: %v", err)
	}
	m.Logger = logger
	return m, logBuf
}

// Stop closes the node once; later calls do nothing.
func (n *testNode) Stop() {
	n.stopOnce.Do(func() { _ = n.Main.Close() })
}

func (n *testNode) waitReady(tb testing.TB) {
	tb.Helper()
	client := &testenv.Client{Base: n.URL(), HTTP: n.httpClient(tb)}
	testenv.WaitUntil(tb, "the node to be ready", func() (bool, string) {
		r := client.Do(tb, http.MethodGet, "/readyz", nil)
		return r.Status == http.StatusOK, fmt.Sprintf("/readyz answers %d %s", r.Status, r.Body)
	})
}

// httpClient is a client of the node that follows no redirect; it trusts
// the node's own certificate when the node serves HTTPS.
func (n *testNode) httpClient(tb testing.TB) *http.Client {
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if n.tlsConfig != nil {
		roots := x509.NewCertPool()
		roots.AddCert(n.tlsConfig.Certificates[0].Leaf)
		transport := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
		tb.Cleanup(transport.CloseIdleConnections)
		c.Transport = transport
	}
	return c
}

// tenantClient creates a tenant and returns a client with its key.
func (n *testNode) tenantClient(tb testing.TB, name string) (*testenv.Client, tenant.Credentials) {
	tb.Helper()
	return newTenant(tb, n.URL(), name)
}

// newTenant creates a tenant through the admin API of the server at base
// (a node in this process or the built binary) and returns a client with
// its key.
func newTenant(tb testing.TB, base, name string) (*testenv.Client, tenant.Credentials) {
	tb.Helper()
	admin := &testenv.Client{Base: base, Key: testAdminToken, Contract: apiContract}
	r := admin.Do(tb, http.MethodPost, "/admin/v1/tenants", map[string]string{"name": name})
	if r.Status != http.StatusCreated {
		tb.Fatalf("create tenant: got %d %s, want 201", r.Status, r.Body)
	}
	var creds tenant.Credentials
	r.JSON(tb, &creds)
	return &testenv.Client{Base: base, Key: creds.APIKey, Contract: apiContract}, creds
}

// createTask posts a task and returns it, failing unless the answer is 202.
func createTask(tb testing.TB, c *testenv.Client, body map[string]any) broker.Task {
	tb.Helper()
	return webtest.CreateTask(tb, c, body)
}

// waitTask long-polls the task until cond holds, failing after
// testenv.GiveUp(timeout).
func waitTask(tb testing.TB, c *testenv.Client, id string, timeout time.Duration, cond func(broker.Task) bool) broker.Task {
	tb.Helper()
	return webtest.WaitTask(tb, c, id, timeout, cond)
}

func finished(t broker.Task) bool { return t.Status.Finished() }

func webhookSettled(t broker.Task) bool {
	return t.Status.Finished() && t.Webhook != nil && (t.Webhook.Status == broker.WebhookDelivered || t.Webhook.Status == broker.WebhookDead)
}

// newSecretKey returns a new --secret-key.
func newSecretKey(tb testing.TB) string {
	tb.Helper()
	key, err := secretbox.NewKey()
	if err != nil {
		tb.Fatal(err)
	}
	return key
}
