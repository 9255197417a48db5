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
	// configure adjusts each server's options before it starts (nil:
	// none); clientOpts are what the cluster's own connections need.
	configure  func(i int, opts *server.Options)
	clientOpts []nats.Option
}

// ClusterOption changes how StartCluster runs the servers.
type ClusterOption func(*Cluster)

// WithServerOptions has configure adjust the options of server i before
// every start (to require authorization or TLS of clients, say);
// clientOpts are the options the cluster's own connections (StreamLeader)
// need to be admitted.
func WithServerOptions(configure func(i int, opts *server.Options), clientOpts ...nats.Option) ClusterOption {
	return func(c *Cluster) {
		c.configure, c.clientOpts = configure, clientOpts
	}
}

// member is one server of the cluster: its ports (chosen by the system at
// its first start, kept for restarts) and store, so that a restart brings
// back the same server.
type member struct {
	name        string
	clientPort  int
	clusterPort int
	dir         string
	links       []*link // the links that carry its routes to and from the others
	srv         *server.Server
}

// StartCluster starts n servers (n ≥ 3 for a JetStream cluster that
// survives the loss of one) and waits until they have elected a meta
// leader. Everything is shut down at cleanup.
func StartCluster(tb testing.TB, n int, options ...ClusterOption) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, name: "test-cluster"}
	for _, o := range options {
		o(c)
	}
	for i := range n {
		c.members = append(c.members, &member{name: fmt.Sprintf("n%d", i+1), dir: tb.TempDir()})
	}
	// Server i reaches server j through a link of its own: cutting every
	// link of a server partitions it. A link learns its target's address
	// when the target starts; until then it refuses, and the route retries.
	for _, m := range c.members {
		for _, peer := range c.members {
			if peer != m {
				l := newLink(c, peer)
				m.links = append(m.links, l)
				peer.links = append(peer.links, l)
			}
		}
	}
	tb.Cleanup(c.shutdown)
	for i := range c.members {
		c.Start(i)
	}
	c.WaitMetaLeader()
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
		if l.to != m {
			routes = append(routes, "nats://"+l.addr)
		}
	}
	// Ports the system chooses at the first start: no other listener can
	// take them between choosing and binding.
	clientPort, clusterPort := server.RANDOM_PORT, server.RANDOM_PORT
	if m.clientPort != 0 {
		clientPort, clusterPort = m.clientPort, m.clusterPort
	}
	opts := &server.Options{
		ServerName: m.name, Host: "127.0.0.1", Port: clientPort,
		JetStream: true, StoreDir: m.dir, NoLog: true, NoSigs: true,
		Cluster: server.ClusterOpts{Name: c.name, Host: "127.0.0.1", Port: clusterPort,
			// Routes go only where they are configured, through the links:
			// what a server gossips as its route address leads nowhere, so
			// no server routes around a cut link (an implicit route is
			// tried once, refused, and given up).
			Advertise: "127.0.0.1:1", NoAdvertise: true},
		Routes: server.RoutesFromStr(strings.Join(routes, ",")),
	}
	if c.configure != nil {
		c.configure(i, opts)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		c.tb.Fatalf("nats-server %s: %v", m.name, err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(GiveUpAfter) {
		c.tb.Fatalf("nats-server %s not ready", m.name)
	}
	c.mu.Lock()
	m.srv = srv
	m.clientPort = srv.Addr().(*net.TCPAddr).Port
	m.clusterPort = srv.ClusterAddr().Port
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

// Partition cuts every route of server i and waits until it and the
// others have dropped their routes to each other: it keeps running and
// serving its clients, cut off from the others, until Heal.
func (c *Cluster) Partition(i int) {
	c.tb.Helper()
	for _, l := range c.members[i].links {
		l.cut()
	}
	c.waitRoutes(func(j, remotes int) bool {
		if j == i {
			return remotes == 0
		}
		return remotes <= c.running()-2
	})
}

// Heal restores the routes Partition cut and waits until every running
// server is routed to every other again.
func (c *Cluster) Heal(i int) {
	c.tb.Helper()
	for _, l := range c.members[i].links {
		l.restore()
	}
	c.waitRoutes(func(_, remotes int) bool { return remotes == c.running()-1 })
}

// running counts the servers not killed.
func (c *Cluster) running() int {
	n := 0
	for i := range c.members {
		if c.Server(i) != nil {
			n++
		}
	}
	return n
}

// waitRoutes waits until ok holds for every running server j and the
// number of servers it is routed to.
func (c *Cluster) waitRoutes(ok func(j, remotes int) bool) {
	c.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		all := true
		var counts []string
		for j := range c.members {
			if srv := c.Server(j); srv != nil {
				n := srv.NumRemotes()
				counts = append(counts, fmt.Sprintf("%s:%d", c.members[j].name, n))
				all = all && ok(j, n)
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("the cluster's routes did not settle (servers routed to: %s)", strings.Join(counts, " "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Server returns server i, nil while it is killed.
func (c *Cluster) Server(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[i].srv
}

// WaitMetaLeader waits until a running server leads JetStream's meta
// group and knows every running server as an online peer (so that a
// replicated stream can be placed), and returns its name.
func (c *Cluster) WaitMetaLeader() string {
	c.tb.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		for i := range c.members {
			if srv := c.Server(i); srv != nil && srv.JetStreamIsLeader() && len(srv.JetStreamClusterPeers()) >= c.running() {
				return c.members[i].name
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.tb.Fatal("the cluster elected no meta leader that knows every server")
	return ""
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
		nc, err := nats.Connect(c.URL(i), append([]nats.Option{nats.Timeout(2 * time.Second)}, c.clientOpts...)...)
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
		if nc, err := nats.Connect(c.URL(i), append([]nats.Option{nats.Timeout(2 * time.Second)}, c.clientOpts...)...); err == nil {
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
}

// link forwards TCP connections from its own loopback address to the
// cluster port of the member it leads to. Cut, it closes what it carries
// and stops listening, so that a server dialling it is refused, as across
// a real partition, and keeps retrying; restored, it listens again on the
// same address.
type link struct {
	addr string
	to   *member
	c    *Cluster
	tb   testing.TB

	mu     sync.Mutex
	ln     net.Listener // nil while cut or closed
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func newLink(c *Cluster, to *member) *link {
	c.tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.tb.Fatal(err)
	}
	l := &link{addr: ln.Addr().String(), to: to, c: c, tb: c.tb, conns: map[net.Conn]struct{}{}}
	l.serve(ln)
	return l
}

// target is the address the link leads to; empty before its member first
// started.
func (l *link) target() string {
	l.c.mu.Lock()
	defer l.c.mu.Unlock()
	if l.to.clusterPort == 0 {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", l.to.clusterPort)
}

// serve accepts on ln until it is closed. l.mu is not held.
func (l *link) serve(ln net.Listener) {
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			l.wg.Add(1)
			go func() { defer l.wg.Done(); l.carry(in) }()
		}
	}()
}

// carry forwards one connection both ways until either side ends.
func (l *link) carry(in net.Conn) {
	target := l.target()
	var out net.Conn
	var err error
	if target != "" {
		out, err = net.DialTimeout("tcp", target, 2*time.Second)
	}
	if target == "" || err != nil {
		in.Close()
		return
	}
	l.mu.Lock()
	if l.ln == nil { // cut meanwhile
		l.mu.Unlock()
		in.Close()
		out.Close()
		return
	}
	l.conns[in], l.conns[out] = struct{}{}, struct{}{}
	l.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(out, in); done <- struct{}{} }()
	go func() { _, _ = io.Copy(in, out); done <- struct{}{} }()
	<-done
	in.Close()
	out.Close()
	<-done
	l.mu.Lock()
	delete(l.conns, in)
	delete(l.conns, out)
	l.mu.Unlock()
}

// cut stops listening and closes every connection the link carries.
func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
	for conn := range l.conns {
		conn.Close()
	}
}

// restore listens again on the link's address.
func (l *link) restore() {
	l.mu.Lock()
	if l.ln != nil || l.closed {
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	var ln net.Listener
	var err error
	for range 100 { // the address was ours a moment ago
		if ln, err = net.Listen("tcp", l.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		l.tb.Fatalf("link %s: listen again: %v", l.addr, err)
	}
	l.serve(ln)
}

func (l *link) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.cut()
	l.wg.Wait()
}
