package natsembed

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterOptions: a server of a cluster listens for routes, routes to
// the others as the route user with the secret, and opens a client port
// on loopback only (nats-server needs one for its routes); a bad route is
// refused without showing what it holds.
func TestClusterOptions(t *testing.T) {
	t.Parallel()
	c := &Cluster{Name: "boomerang", ServerName: "n1", Host: "127.0.0.1", Port: 6222,
		Routes: []string{"nats://10.0.0.2:6222", "nats://10.0.0.3:6222"}, Secret: "s3cret"}
	opts, _, err := options(Config{Dir: t.TempDir(), Cluster: c})
	if err != nil {
		t.Fatal(err)
	}
	if opts.ServerName != "n1" || opts.Cluster.Name != "boomerang" || opts.Cluster.Port != 6222 ||
		opts.Cluster.Username != routeUser || opts.Cluster.Password != "s3cret" || opts.DontListen || opts.Host != "127.0.0.1" {
		t.Fatalf("options: got %+v", opts)
	}
	for _, r := range opts.Routes {
		if p, _ := r.User.Password(); r.User.Username() != routeUser || p != "s3cret" {
			t.Fatalf("route %s: got user %v, want the route user with the secret", r.Host, r.User)
		}
	}
	for _, bad := range []string{"nats://u:hunter2@10.0.0.2:6222", "10.0.0.2:6222", "nats://10.0.0.2"} {
		c.Routes = []string{bad}
		if _, _, err := options(Config{Dir: t.TempDir(), Cluster: c}); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("route %q: got %v, want an error that shows no password", bad, err)
		}
	}
}

// TestThreeServersFormACluster starts three embedded servers routed to
// each other with a secret: they elect a meta leader and hold a stream
// with three replicas.
func TestThreeServersFormACluster(t *testing.T) {
	t.Parallel()
	var ports []int
	var routes []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		routes = append(routes, fmt.Sprintf("nats://%s", l.Addr()))
		l.Close()
	}
	var servers []*Server
	for i, port := range ports {
		s, err := Start(Config{Dir: t.TempDir(), Cluster: &Cluster{Name: "test", ServerName: fmt.Sprintf("n%d", i+1),
			Host: "127.0.0.1", Port: port, Routes: routes, Secret: "s3cret"}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
	}
	nc, err := servers[0].Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
		cancel()
		if err == nil {
			if info := s.CachedInfo(); info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
				t.Fatalf("stream R3: cluster %+v, want three replicas", info.Cluster)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cluster: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestClusterPortInUseFailsTheStart: a server whose cluster port another
// process holds does not run on outside the cluster, nor wait out its
// start-up bound: it fails with the listener's error.
func TestClusterPortInUseFailsTheStart(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	s, err := Start(Config{Dir: t.TempDir(), Cluster: &Cluster{Name: "test", ServerName: "n1",
		Host: "127.0.0.1", Port: port, Routes: []string{fmt.Sprintf("nats://127.0.0.1:%d", port)}}}, nil)
	if err == nil {
		s.Shutdown()
		t.Fatal("started on a cluster port in use")
	}
	if !strings.Contains(err.Error(), "router port") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("error %q, want the cluster listener's", err)
	}
}
