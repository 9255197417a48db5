package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// examplesDir is examples/ from this package's directory.
var examplesDir = filepath.Join("..", "..", "examples")

// exampleReceiver is one of the example webhook receivers, running as a
// process of its own; it prints what it does, a line per webhook.
type exampleReceiver struct {
	URL string

	mu    sync.Mutex
	lines []string
}

// startExample runs cmd, an example receiver, until the test ends, and
// returns once it listens.
func startExample(t *testing.T, cmd *exec.Cmd) *exampleReceiver {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	r := &exampleReceiver{}
	listening := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if url, ok := strings.CutPrefix(lines.Text(), "listening on "); ok {
				listening <- url
			}
			r.mu.Lock()
			r.lines = append(r.lines, lines.Text())
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s printed:\n%s\n%s", filepath.Base(cmd.Path), strings.Join(r.output(), "\n"), stderr.String())
		}
	})
	select {
	case r.URL = <-listening:
	case <-done:
		t.Fatalf("the example receiver exited: %s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the example receiver did not listen in time")
	}
	return r
}

func (r *exampleReceiver) output() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// waitLine waits until the receiver has printed a line starting with
// prefix.
func (r *exampleReceiver) waitLine(t *testing.T, prefix string) {
	t.Helper()
	testenv.WaitUntil(t, fmt.Sprintf("the receiver to print %q", prefix), func() (bool, string) {
		out := r.output()
		return slices.ContainsFunc(out, func(l string) bool { return strings.HasPrefix(l, prefix) }), "it printed:\n" + strings.Join(out, "\n")
	})
}

// tamperer forwards each webhook to the receiver with one byte of its
// body changed, and answers with the receiver's status.
func tamperer(t *testing.T, receiver string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		body = bytes.Replace(body, []byte(`"attempts":1`), []byte(`"attempts":9`), 1)
		req, _ := http.NewRequest(http.MethodPost, receiver, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// checkExampleReceiver points tasks of a real node at an example receiver:
// it accepts the node's signature, rejects a tampered webhook (which the
// node then retries), and handles a redelivery once.
func checkExampleReceiver(t *testing.T, client *testenv.Client, r *exampleReceiver) {
	t.Helper()
	target := testenv.NewTarget(t, answer(200))
	task := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": r.URL + "/webhook"})
	got := waitTask(t, client, task.ID, 30*time.Second, webhookSettled)
	if got.Webhook.Status != broker.WebhookDelivered {
		t.Fatalf("the webhook to the example receiver: got %s, want delivered", got.Webhook.Status)
	}
	r.waitLine(t, "accepted "+got.Webhook.ID+": task.succeeded task "+task.ID)

	proxy := tamperer(t, r.URL+"/webhook")
	tampered := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": proxy.URL + "/webhook"})
	got = waitTask(t, client, tampered.ID, 30*time.Second, func(t broker.Task) bool {
		return t.Webhook != nil && len(t.Webhook.Deliveries) > 0
	})
	if d := got.Webhook.Deliveries[0]; d.StatusCode != http.StatusUnauthorized || d.Outcome == "delivered" {
		t.Errorf("a tampered webhook: the receiver answered %d (%s), want 401", d.StatusCode, d.Outcome)
	}
	r.waitLine(t, "rejected "+got.Webhook.ID)

	if resp := client.Do(t, http.MethodPost, "/v1/tasks/"+task.ID+"/redeliver", nil); resp.Status != http.StatusAccepted {
		t.Fatalf("redeliver: got %d %s", resp.Status, resp.Body)
	}
	r.waitLine(t, "repeated "+broker.WebhookID(task.ID))
}

// TestGoExampleReceiver builds examples/go, which verifies with the
// Standard Webhooks Go library, and runs it against a node.
func TestGoExampleReceiver(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "receiver")
	build := exec.Command("go", "build", "-o", bin, "./examples/go")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/go: %v\n%s", err, out)
	}
	client, creds := MustRunMain(t).tenantClient(t, "acme")
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "BOOMERANG_SIGNING_SECRET="+creds.SigningSecret)
	checkExampleReceiver(t, client, startExample(t, cmd))
}

// TestNodeExampleReceiver runs examples/node, which verifies with the
// standardwebhooks npm package, against a node. It needs node and the
// package (npm ci in examples/node): without them it skips, unless
// BOOMERANG_REQUIRE_NODE=1 (as in CI), where it fails.
func TestNodeExampleReceiver(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(examplesDir, "node")
	nodeBin, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not installed"
	case !fileExists(filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")):
		missing = "examples/node has no node_modules: run npm ci there"
	}
	if missing != "" {
		if os.Getenv("BOOMERANG_REQUIRE_NODE") == "1" {
			t.Fatalf("the Node example is required (BOOMERANG_REQUIRE_NODE=1): %s", missing)
		}
		t.Skip(missing)
	}
	client, creds := MustRunMain(t).tenantClient(t, "acme")
	cmd := exec.Command(nodeBin, "receiver.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BOOMERANG_SIGNING_SECRET="+creds.SigningSecret, "HOST=127.0.0.1", "PORT=0")
	checkExampleReceiver(t, client, startExample(t, cmd))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestPythonExampleReceiver runs examples/python, which verifies with the
// standardwebhooks package from PyPI, against a node, where python3 can
// import that package; CI does not install it, so it skips there.
func TestPythonExampleReceiver(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if out, err := exec.Command(python, "-c", "import standardwebhooks").CombinedOutput(); err != nil {
		t.Skipf("python3 cannot import standardwebhooks (pip install standardwebhooks): %s", out)
	}
	client, creds := MustRunMain(t).tenantClient(t, "acme")
	cmd := exec.Command(python, "receiver.py")
	cmd.Dir = filepath.Join(examplesDir, "python")
	cmd.Env = append(os.Environ(), "BOOMERANG_SIGNING_SECRET="+creds.SigningSecret, "HOST=127.0.0.1", "PORT=0")
	checkExampleReceiver(t, client, startExample(t, cmd))
}
