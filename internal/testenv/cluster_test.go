package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// connect returns a JetStream handle on server i alone.
func connect(t *testing.T, c *Cluster, i int) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(c.URL(i), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// publishEventually publishes until the stream acknowledges, within a
// generous deadline: a stream re-elects its leader after a loss.
func publishEventually(t *testing.T, js jetstream.JetStream, subject string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.Publish(ctx, subject, []byte("x"))
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish %s: %v", subject, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The harness does what the HA tests rely on: a replicated stream keeps
// taking writes when its leader dies, a partitioned server's clients
// cannot write (no quorum on its side) until the partition heals, and a
// killed server comes back with its store.
func TestClusterSurvivesLossAndPartition(t *testing.T) {
	c := StartCluster(t, 3)
	js := connect(t, c, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publishEventually(t, js, "s.1")

	leader := c.Index(c.StreamLeader("S"))
	c.Kill(leader)
	survivor := (leader + 1) % 3
	publishEventually(t, connect(t, c, survivor), "s.2")
	c.Start(leader)

	// Cut off a server that does not lead the stream: writes through it
	// fail, writes through the others go on.
	leader = c.Index(c.StreamLeader("S"))
	cutOff := (leader + 1) % 3
	jsCut := connect(t, c, cutOff)
	c.Partition(cutOff)
	pctx, pcancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := jsCut.Publish(pctx, "s.3", []byte("x"))
	pcancel()
	if err == nil {
		t.Fatal("a partitioned server's client wrote to a replicated stream")
	}
	publishEventually(t, connect(t, c, leader), "s.4")
	c.Heal(cutOff)
	publishEventually(t, jsCut, "s.5")

	// Each ask has a short deadline of its own and is repeated: a request
	// sent while the healed server's routes come back can be dropped on the
	// way (core NATS delivers at most once), and one long wait for its
	// answer would then hang the test (CI saw a 60 s deadline pass).
	WaitUntil(t, "the stream to hold the four acknowledged messages", func() (bool, string) {
		info, err := c.streamInfo("S")
		if err != nil {
			return false, err.Error()
		}
		return info.State.Msgs >= 4, fmt.Sprintf("%d messages", info.State.Msgs)
	})
}
