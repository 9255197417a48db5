package broker

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// clusterNode is a node on a cluster: its connection (to every server,
// so it moves on when one dies), its view, projector and firer.
func clusterNode(t *testing.T, cluster *testenv.Cluster) (*bundle, *projector.Projector) {
	t.Helper()
	nc, err := nats.Connect(cluster.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	b, p := startBundleOn(t, nc, StreamOptions{Replicas: 3})
	runFirer(t, b.js, NewTasks(b.pub, b.view, p, quiet, nil))
	return b, p
}

// TestScheduleFiresOnAfterNodeLoss: two nodes on a three-server cluster
// (three replicas) share a schedule's firings; killing the server that
// leads the schedules stream (the one whose scheduler fires) moves the
// firing to the new leader, and no firing makes two tasks.
func TestScheduleFiresOnAfterNodeLoss(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 3)
	a, _ := clusterNode(t, cluster)
	clusterNode(t, cluster)
	sc, err := NewSchedules(a.pub, quiet, nil).Create(context.Background(), "ten_a", ScheduleTiming{Every: time.Second}, scheduleTemplate)
	if err != nil {
		t.Fatal(err)
	}
	before := len(waitTasks(t, a.view, "ten_a", sc.ID, 2))
	cluster.Kill(cluster.Index(cluster.StreamLeader(StreamSchedules)))
	got := waitTasks(t, a.view, "ten_a", sc.ID, before+2)
	checkLinked(t, got, sc.ID)
}
