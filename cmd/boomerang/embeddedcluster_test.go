package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHAEmbeddedClusterSurvivesAKilledNode runs three `boomerang serve`
// processes, each embedding a nats-server, joined as one JetStream
// cluster (--nats-cluster-listen, --nats-routes), under load, and kills
// one with SIGKILL: its NATS server and its attempts go with it. The other
// two carry on: they take creates again once the streams have their
// leaders, finish the dead node's attempts, and nothing accepted is lost.
//
// It needs the embedded-cluster flags (issue 12, section 1), hence its
// build tag until they are on main.
func TestHAEmbeddedClusterSurvivesAKilledNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	h := newHATarget(t, haShortAckWait, haOutlasting) // no NATS cluster: the nodes embed their own
	const n = 3
	var dirs, addrs, routes []string
	for range n {
		dirs, addrs = append(dirs, t.TempDir()), append(addrs, freeAddr(t))
		routes = append(routes, "nats://"+freeAddr(t))
	}
	defer func() {
		if t.Failed() {
			for _, dir := range dirs {
				dumpLog(t, dir)
			}
		}
	}()
	var cmds []*exec.Cmd
	for i := range n {
		h.binaryLog(dirs[i])
		cmds = append(cmds, launchBinary(t, dirs[i], addrs[i], "--secret-key", h.secret, "--replicas", "3",
			"--ack-wait", h.ackWait.String(), "--log-level", "info",
			"--nats-server-name", "n"+string(rune('1'+i)), "--nats-cluster-name", "boomerang",
			"--nats-cluster-listen", strings.TrimPrefix(routes[i], "nats://"), "--nats-routes", strings.Join(routes, ","),
			"--nats-cluster-secret", "test-cluster-secret-0123456789"))
	}
	var urls []string
	for i := range n { // they start together: none is ready before a quorum is up
		waitBinaryReady(t, addrs[i])
		urls = append(urls, "http://"+addrs[i])
	}
	h.newTenant(t, urls[0])
	d := startLoad(t, h.creds.APIKey, haRate, h.task, urls...)
	d.waitAccepted(t, time.Now(), pastAckWait(haShortAckWait)) // slow attempts live on in-progress acks

	const victim = n - 1
	d.remove(urls[victim])
	w := h.disturb(t, d, "SIGKILL of node "+urls[victim], func() {
		if err := cmds[victim].Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmds[victim].Wait()
	}, urls[:victim]...)
	d.waitAccepted(t, w.to, scaled(150), urls[:victim]...)

	r := checkNothingLost(t, d, h.check(urls[0], w))
	t.Logf("embedded cluster of 3, one killed: %s", r)
}
