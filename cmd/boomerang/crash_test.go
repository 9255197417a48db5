package main

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// builtBinary builds the boomerang binary once per test run.
func builtBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "boomerang-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "boomerang")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("go build: %s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startBinary starts the real binary and waits until it is ready.
func startBinary(t *testing.T, dir, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(builtBinary(t), "serve", "--addr", addr, "--data-dir", dir,
		"--admin-token", testAdminToken, "--allow-private-networks", "--retry-initial", "100ms",
		"--retry-max", "400ms", "--webhook-schedule", "0s,300ms,300ms,300ms,300ms,300ms,300ms,300ms", "--log-level", "warn")
	logFile, err := os.OpenFile(filepath.Join(dir, "serve.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logFile.Close() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("binary not ready in time")
	return nil
}

func dumpLog(t *testing.T, dir string) {
	f, err := os.Open(filepath.Join(dir, "serve.log"))
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		t.Log(s.Text())
	}
}

// TestKillNineLosesNothing kills the real binary with SIGKILL while tasks are
// in every state and restarts it on the same data dir: every task reaches a
// terminal state and every webhook is delivered at least once.
func TestKillNineLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	defer func() {
		if t.Failed() {
			dumpLog(t, dir)
		}
	}()
	cmd := startBinary(t, dir, addr)
	admin := &testenv.Client{Base: "http://" + addr, Key: testAdminToken}
	r := admin.Do(t, http.MethodPost, "/admin/v1/tenants", map[string]string{"name": "acme"})
	var creds struct{ APIKey, SigningSecret string }
	r.JSON(t, &creds)
	client := &testenv.Client{Base: admin.Base, Key: creds.APIKey}
	target := mixedTarget(t)
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	ids := mixedLoad(t, client, target, receiver)
	target.WaitCalls(t, 10, 10*time.Second)
	if unfinished := countUnfinished(t, client); unfinished == 0 {
		t.Fatal("every task finished before the kill; the test proves nothing")
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	startBinary(t, dir, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	duplicates := 0
	for _, id := range ids {
		task := waitTask(t, client, id, time.Until(deadlineOf(ctx)), webhookSettled)
		if task.Webhook.Status != broker.WebhookDelivered || len(receiver.For(id)) == 0 {
			t.Errorf("task %s: webhook %s with %d received, want delivered", id, task.Webhook.Status, len(receiver.For(id)))
		}
		duplicates += len(receiver.For(id)) - 1
	}
	t.Logf("tasks %d, all finished; duplicate webhooks %d, target calls %d", len(ids), duplicates, len(target.Calls()))
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// TestSigtermFinishesAttemptsInFlight stops the real binary with SIGTERM
// while slow attempts run: it exits cleanly, the attempts finish and are
// recorded, and after a restart none of them is made again.
func TestSigtermFinishesAttemptsInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir, addr := t.TempDir(), freeAddr(t)
	defer func() {
		if t.Failed() {
			dumpLog(t, dir)
		}
	}()
	cmd := startBinary(t, dir, addr)
	admin := &testenv.Client{Base: "http://" + addr, Key: testAdminToken}
	var creds struct{ APIKey, SigningSecret string }
	admin.Do(t, http.MethodPost, "/admin/v1/tenants", map[string]string{"name": "acme"}).JSON(t, &creds)
	client := &testenv.Client{Base: admin.Base, Key: creds.APIKey}
	release := make(chan struct{})
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		<-release // held until the node has been told to stop
		w.WriteHeader(http.StatusOK)
	})
	var ids []string
	for range 5 {
		ids = append(ids, createTask(t, client, map[string]any{"targetUrl": target.URL}).ID)
	}
	target.WaitCalls(t, 5, 10*time.Second)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the node begin its shutdown
	close(release)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	startBinary(t, dir, addr)
	for _, id := range ids {
		task := waitTask(t, client, id, 20*time.Second, finished)
		if task.Status != broker.StatusSucceeded || len(task.Attempts) != 1 {
			t.Errorf("task %s: got %s after %d attempts, want succeeded after 1", id, task.Status, len(task.Attempts))
		}
	}
	// Give a wrongly redelivered attempt the time to show itself.
	probe := createTask(t, client, map[string]any{"targetUrl": target.URL})
	waitTask(t, client, probe.ID, 20*time.Second, finished)
	for _, id := range ids {
		if n := len(target.CallsFor(id)); n != 1 {
			t.Errorf("task %s: target called %d times, want 1", id, n)
		}
	}
}
