package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
func builtBinary(t testing.TB) string {
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

// freeAddr returns a loopback address that was free a moment ago, for a
// process started later to bind. Its port is drawn below the kernel's
// ephemeral range (32768 and up on Linux), from which every listener on
// port 0 (httptest servers, other tests' NATS servers) and every outgoing
// connection takes its port: one from that range, free when asked, could
// be taken by one of those before the process binds it, and the test
// would talk to someone else's server (seen: a test target answering a
// node's create-tenant with an empty 200).
func freeAddr(t testing.TB) string {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken: draw again
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// startBinary starts the real binary and waits until it is ready. Its
// webhooks retry on patientWebhookSchedule; extra flags come last, so
// they override these.
func startBinary(t *testing.T, dir, addr string, extra ...string) *exec.Cmd {
	t.Helper()
	cmd := launchBinary(t, dir, addr, extra...)
	waitBinaryReady(t, addr)
	return cmd
}

// launchBinary starts the real binary as startBinary does, without waiting
// for it: for nodes that become ready only together.
func launchBinary(t *testing.T, dir, addr string, extra ...string) *exec.Cmd {
	t.Helper()
	args := append([]string{"serve", "--addr", addr, "--data-dir", dir,
		"--admin-token", testAdminToken, "--allow-private-networks", "--retry-initial", "100ms",
		"--retry-max", "400ms", "--webhook-schedule", patientWebhookSchedule, "--log-level", "warn",
		"--ack-wait", "5s"}, extra...) // work a killed node held comes back after 5 s
	cmd := exec.Command(builtBinary(t), args...)
	logFile, err := os.OpenFile(filepath.Join(dir, "serve.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logFile.Close() })
	return cmd
}

// waitBinaryReady waits until the binary serving addr is ready.
func waitBinaryReady(t *testing.T, addr string) {
	t.Helper()
	probe := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(60 * time.Second) // only for giving up
	for time.Now().Before(deadline) {
		resp, err := probe.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("binary not ready in time")
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

// patientWebhookSchedule retries a webhook every second for half an hour:
// long enough that no webhook of a crash or restart test is dead-lettered
// while its receiver is down, however slow the machine, and short enough
// that a receiver that comes back is reached within a second or two
// (schedules fire on whole seconds).
var patientWebhookSchedule = "0s" + strings.Repeat(",1s", 1800)

// crashCounts are what a crash test reports.
type crashCounts struct {
	tasks, delivered, duplicateWebhooks, repeatedAttempts, targetCalls int
}

// crashScenario runs the binary, loads it, stops it with sig mid-way,
// restarts it on the same data dir, and checks that every task reaches a
// terminal state and every webhook is delivered at least once.
//
// The "down" receiver refuses every webhook until the node has stopped: at
// the stop those webhooks are waiting for a retry, and patientWebhookSchedule
// keeps them waiting (never dead-lettered) however slow the machine is, so
// each must be delivered by the restarted node.
func crashScenario(t *testing.T, sig syscall.Signal, n int) crashCounts {
	dir, addr := t.TempDir(), freeAddr(t)
	defer func() {
		if t.Failed() {
			dumpLog(t, dir)
		}
	}()
	cmd := startBinary(t, dir, addr)
	client, creds := newTenant(t, "http://"+addr, "acme")
	target := mixedTarget(t)
	up := testenv.NewReceiver(t, creds.SigningSecret)
	down := testenv.NewReceiver(t, creds.SigningSecret)
	down.Answer(http.StatusServiceUnavailable)
	ids := mixedLoad(t, client, target, up, down, n)
	target.WaitCalls(t, n/3, 60*time.Second)
	down.WaitFor(t, ids[5], 1, 60*time.Second) // mixedLoad's first task with the down receiver
	unfinished := countUnfinished(t, client)
	if unfinished == 0 {
		t.Fatal("every task finished before the stop; the test proves nothing")
	}
	t.Logf("at the stop: %d of the newest 200 tasks unsettled, %d webhooks refused", unfinished, len(down.Got()))
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if sig == syscall.SIGTERM && err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	down.Answer(0) // the receiver is back while the node is down
	startBinary(t, dir, addr)

	var c crashCounts
	c.tasks = len(ids)
	for _, id := range ids {
		task := waitTask(t, client, id, 60*time.Second, webhookSettled)
		ok := 0
		for _, h := range append(up.For(id), down.For(id)...) {
			if h.Answered < 300 {
				ok++
			}
			if h.VerifyErr != nil {
				t.Errorf("task %s: a webhook does not verify: %v", id, h.VerifyErr)
			}
		}
		if task.Webhook.Status != broker.WebhookDelivered || ok == 0 {
			t.Errorf("task %s: webhook %s, %d accepted deliveries; want delivered", id, task.Webhook.Status, ok)
			continue
		}
		c.delivered++
		c.duplicateWebhooks += ok - 1
		seen := map[string]bool{}
		for _, call := range target.CallsFor(id) {
			attempt := call.Header.Get("Boomerang-Attempt")
			if seen[attempt] {
				c.repeatedAttempts++
			}
			seen[attempt] = true
		}
	}
	c.targetCalls = len(target.Calls())
	return c
}

// TestKillNineLosesNothing kills the real binary with SIGKILL while tasks are
// in every state and restarts it on the same data dir: every task reaches a
// terminal state and every webhook is delivered at least once. Duplicates
// are allowed (at least once) and reported.
func TestKillNineLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	c := crashScenario(t, syscall.SIGKILL, 300)
	t.Logf("SIGKILL: %d tasks, %d delivered, %d duplicate webhooks, %d repeated attempts, %d target calls",
		c.tasks, c.delivered, c.duplicateWebhooks, c.repeatedAttempts, c.targetCalls)
}

// TestSigtermRepeatsNothing stops the real binary with SIGTERM under the
// same load: besides losing nothing, no attempt that had finished is made
// again and no webhook is sent twice.
func TestSigtermRepeatsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	c := crashScenario(t, syscall.SIGTERM, 300)
	t.Logf("SIGTERM: %d tasks, %d delivered, %d duplicate webhooks, %d repeated attempts, %d target calls",
		c.tasks, c.delivered, c.duplicateWebhooks, c.repeatedAttempts, c.targetCalls)
	if c.repeatedAttempts != 0 || c.duplicateWebhooks != 0 {
		t.Fatalf("after SIGTERM: %d repeated attempts, %d duplicate webhooks; want none", c.repeatedAttempts, c.duplicateWebhooks)
	}
}
