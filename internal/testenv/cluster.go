package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a JetStream cluster of in-process nats-servers on loopback,
// for tests of what a node does when a NATS server dies or is cut off.
// Every route between two servers passes through a link the test can cut,
// so a server can be partitioned from the others while it keeps running
// and serving its own clients.
type Cluster struct {
	tb      testing.TB
	name    string
	members []*member
	mu      sync.Mutex
	// sink is the cluster address every server advertises: a link cut
	// for good, so that a route learned by gossip, which would go to the
	// advertised address, is refused (see Start).
	sink *link
}

// member is one server of the cluster: its fixed ports and store, so that
// a restart brings back the same server.
type member struct {
	name        string
	clientPort  int
	clusterPort int
	dir         string
	links       []*link // the links that carry its routes to the others
	srv         *server.Server
}

// StartCluster starts n servers (n ≥ 3 for a JetStream cluster that
// survives the loss of one) and waits until they have elected a meta
// leader that knows every server as a peer it may place streams on.
// Everything is shut down at cleanup.
func StartCluster(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, name: "test-cluster"}
	for i := range n {
		c.members = append(c.members, &member{name: fmt.Sprintf("n%d", i+1),
			clientPort: freePort(tb), clusterPort: freePort(tb), dir: tb.TempDir()})
	}
	// Server i reaches server j through a link of its own: cutting every
	// link of a server partitions it.
	for _, m := range c.members {
		for _, peer := range c.members {
			if peer != m {
				l := newLink(tb, fmt.Sprintf("127.0.0.1:%d", peer.clusterPort))
				m.links = append(m.links, l)
				peer.links = append(peer.links, l)
			}
		}
	}
	c.sink = newLink(tb, "127.0.0.1:1")
	c.sink.cut()
	tb.Cleanup(c.shutdown)
	for i := range c.members {
		c.Start(i)
	}
	c.WaitPeers()
	return c
}

// URLs returns the client URLs of every server, comma-separated, as
// --nats-url takes them.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.members))
	for i := range c.members {
		urls[i] = c.URL(i)
	}
	return strings.Join(urls, ",")
}

// URL returns server i's client URL.
func (c *Cluster) URL(i int) string {
	return fmt.Sprintf("nats://127.0.0.1:%d", c.members[i].clientPort)
}

// Name returns server i's server name, as stream and meta leaders are named.
func (c *Cluster) Name(i int) string { return c.members[i].name }

// Index returns the index of the server named name, or -1.
func (c *Cluster) Index(name string) int {
	for i, m := range c.members {
		if m.name == name {
			return i
		}
	}
	return -1
}

// Start starts server i (again, after Kill, with the same store and ports).
func (c *Cluster) Start(i int) {
	c.tb.Helper()
	m := c.members[i]
	var routes []string
	for _, l := range m.links {
		if l.target != fmt.Sprintf("127.0.0.1:%d", m.clusterPort) {
			routes = append(routes, "nats://"+l.addr)
		}
	}
	opts := &server.Options{
		ServerName: m.name, Host: "127.0.0.1", Port: m.clientPort,
		JetStream: true, StoreDir: m.dir, NoLog: true, NoSigs: true,
		Cluster: server.ClusterOpts{Name: c.name, Host: "127.0.0.1", Port: m.clusterPort,
			// Routes go only where they are configured: through the links.
			// A server that learns of another by gossip dials the address
			// it advertises, which is the sink: otherwise, early on, it may
			// dial the real port, a route that no partition cuts.
			Advertise: c.sink.addr, NoAdvertise: true},
		Routes: server.RoutesFromStr(strings.Join(routes, ",")),
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		c.tb.Fatalf("nats-server %s: %v", m.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		c.tb.Fatalf("nats-server %s not ready", m.name)
	}
	c.mu.Lock()
	m.srv = srv
	c.mu.Unlock()
}

// Kill stops server i at once, as a crash would (its store stays).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	srv := c.members[i].srv
	c.members[i].srv = nil
	c.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Partition cuts every route of server i: it keeps running and serving its
// clients, cut off from the others, until Heal. It returns once the server
// has no route left, and fails the test if one survives (a route that
// does not pass through the links).
func (c *Cluster) Partition(i int) {
	c.tb.Helper()
	for _, l := range c.members[i].links {
		l.cut()
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv := c.Server(i); srv != nil && srv.NumRoutes() > 0; {
		if time.Now().After(deadline) {
			c.tb.Fatalf("nats-server %s still has %d routes after its links were cut", c.members[i].name, srv.NumRoutes())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Heal restores the routes Partition cut.
func (c *Cluster) Heal(i int) {
	for _, l := range c.members[i].links {
		l.restore()
	}
}

// Server returns server i, nil while it is killed.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].srv
}

// WaitMetaLeader waits until a running server knows a JetStream meta
// leader, and returns its name.
func (c *Cluster) WaitMetaLeader() string {
	c.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for i := range c.members {
			if srv := c.Server(i); srv != nil && srv.JetStreamIsLeader() {
				return c.members[i].name
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.tb.Fatal("the cluster elected no meta leader")
	return ""
}

// WaitPeers waits until a meta leader knows every running server as a
// JetStream peer it may place a stream on: before that, creating a stream
// with as many replicas as servers fails ("no suitable peers").
func (c *Cluster) WaitPeers() {
	c.tb.Helper()
	running := 0
	for i := range c.members {
		if c.Server(i) != nil {
			running++
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for i := range c.members {
			if srv := c.Server(i); srv != nil && srv.JetStreamIsLeader() && len(srv.JetStreamClusterPeers()) >= running {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.tb.Fatalf("the meta leader does not know all %d servers", running)
}

// StreamLeader returns the name of the server that leads stream, waiting
// until it has one.
func (c *Cluster) StreamLeader(stream string) string {
	c.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if name, err := c.streamLeader(stream); err == nil && name != "" {
			return name
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.tb.Fatalf("stream %s has no leader", stream)
	return ""
}

func (c *Cluster) streamLeader(stream string) (string, error) {
	for i := range c.members {
		if c.Server(i) == nil {
			continue
		}
		nc, err := nats.Connect(c.URL(i), nats.Timeout(2*time.Second))
		if err != nil {
			continue
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return "", err
		}
		if info := s.CachedInfo(); info.Cluster != nil {
			return info.Cluster.Leader, nil
		}
		return "", errors.New("no cluster info")
	}
	return "", errors.New("no server reachable")
}

// MoveStreamLeader makes server i the leader of stream (a leader
// stepdown that names it), and waits until it is.
func (c *Cluster) MoveStreamLeader(stream string, i int) {
	c.tb.Helper()
	want := c.members[i].name
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c.StreamLeader(stream) == want {
			return
		}
		if err := c.stepDown(stream, want); err != nil {
			c.tb.Logf("stream %s: stepdown to %s: %v; retrying", stream, want, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.tb.Fatalf("stream %s: %s did not become its leader", stream, want)
}

func (c *Cluster) stepDown(stream, preferred string) error {
	nc, err := c.connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	req := fmt.Sprintf(`{"placement":{"preferred":%q}}`, preferred)
	resp, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, []byte(req), 5*time.Second)
	if err != nil {
		return err
	}
	if strings.Contains(string(resp.Data), `"error"`) {
		return errors.New(string(resp.Data))
	}
	return nil
}

// WaitStreamCurrent waits until stream has a leader and every other
// running server is a replica of it that has caught up: after Start, or
// a heal, before another server may go without losing the stream's quorum.
func (c *Cluster) WaitStreamCurrent(stream string) {
	c.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if info, err := c.streamInfo(stream); err == nil && info.Cluster != nil && info.Cluster.Leader != "" &&
			c.allCurrent(info.Cluster) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.tb.Fatalf("stream %s: its replicas did not catch up", stream)
}

// allCurrent reports whether every running server but the leader is a
// current replica in ci.
func (c *Cluster) allCurrent(ci *jetstream.ClusterInfo) bool {
	current := map[string]bool{ci.Leader: true}
	for _, r := range ci.Replicas {
		current[r.Name] = r.Current && !r.Offline
	}
	for i, m := range c.members {
		if c.Server(i) != nil && !current[m.name] {
			return false
		}
	}
	return true
}

// streamInfo asks a running server for stream's info.
func (c *Cluster) streamInfo(stream string) (*jetstream.StreamInfo, error) {
	nc, err := c.connect()
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	return s.CachedInfo(), nil
}

// connect connects to the first running server that answers.
func (c *Cluster) connect() (*nats.Conn, error) {
	for i := range c.members {
		if c.Server(i) == nil {
			continue
		}
		if nc, err := nats.Connect(c.URL(i), nats.Timeout(2*time.Second)); err == nil {
			return nc, nil
		}
	}
	return nil, errors.New("no server reachable")
}

func (c *Cluster) shutdown() {
	for i := range c.members {
		c.Kill(i)
	}
	for _, m := range c.members {
		for _, l := range m.links {
			l.close()
		}
	}
	c.sink.close()
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// link forwards TCP connections from its own loopback address to target,
// until it is cut: then it closes what it carries and refuses new
// connections until restored.
type link struct {
	addr, target string
	ln           net.Listener
	mu           sync.Mutex
	isCut        bool
	conns        map[net.Conn]struct{}
	closed       bool
}

func newLink(tb testing.TB, target string) *link {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	l := &link{addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	go l.accept()
	return l
}

func (l *link) accept() {
	for {
		in, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		refused := l.isCut || l.closed
		if !refused {
			l.conns[in] = struct{}{}
		}
		l.mu.Unlock()
		if refused {
			in.Close()
			continue
		}
		go l.carry(in)
	}
}

// carry forwards one connection both ways until either side ends.
func (l *link) carry(in net.Conn) {
	out, err := net.DialTimeout("tcp", l.target, 2*time.Second)
	if err != nil {
		l.drop(in)
		return
	}
	l.mu.Lock()
	if l.isCut || l.closed {
		l.mu.Unlock()
		out.Close()
		l.drop(in)
		return
	}
	l.conns[out] = struct{}{}
	l.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
	l.drop(in)
	l.drop(out)
}

func (l *link) drop(conn net.Conn) {
	conn.Close()
	l.mu.Lock()
	delete(l.conns, conn)
	l.mu.Unlock()
}

func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.isCut = true
	for conn := range l.conns {
		conn.Close()
	}
}

func (l *link) restore() {
	l.mu.Lock()
	l.isCut = false
	l.mu.Unlock()
}

func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	l.cut()
}
