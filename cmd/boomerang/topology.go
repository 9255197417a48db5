package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
)

// This file checks the flags that choose the node's topology: alone with
// its embedded server, one of an embedded cluster (--nats-cluster-listen),
// or on external NATS servers (--nats-url), with TLS to them (--nats-tls-*).

// maxReplicas is JetStream's largest replication factor.
const maxReplicas = 5

// clusterReplicas is the replication factor in a cluster unless
// --replicas says otherwise: every stream survives the loss of any one
// server.
const clusterReplicas = 3

// checkTopology checks the topology flags, and sets the embedded
// cluster's configuration (m.cluster) and the TLS options of --nats-url.
func (m *Main) checkTopology() error {
	c := m.Config
	if c.Replicas < 0 || c.Replicas > maxReplicas {
		return fmt.Errorf("--replicas %d: want 1 to %d (or 0: 1 alone, %d in a cluster)", c.Replicas, maxReplicas, clusterReplicas)
	}
	if (c.NatsTLSCert == "") != (c.NatsTLSKey == "") {
		return errors.New("--nats-tls-cert and --nats-tls-key go together: give both or neither")
	}
	if c.NatsURL != "" {
		if c.NatsClusterListen != "" || c.NatsRoutes != "" || c.NatsServerName != "" || c.NatsClusterSecret != "" {
			return errors.New("--nats-cluster-listen, --nats-routes, --nats-server-name and --nats-cluster-secret configure the embedded server, which --nats-url replaces: give one or the other")
		}
		return m.checkNatsTLS()
	}
	if c.NatsClusterListen == "" {
		if c.NatsRoutes != "" || c.NatsClusterSecret != "" || c.NatsServerName != "" {
			return errors.New("--nats-routes, --nats-server-name and --nats-cluster-secret need --nats-cluster-listen")
		}
		if c.NatsTLSCA != "" || c.NatsTLSCert != "" {
			return errors.New("--nats-tls-* secure the connection to --nats-url, or an embedded cluster's routes: give one of those")
		}
		return nil
	}
	return m.checkCluster()
}

// checkNatsTLS checks --nats-tls-* for --nats-url and adds the TLS
// options of its connections, which read the files again at each
// (re)connect, so that renewed certificates are used.
func (m *Main) checkNatsTLS() error {
	c := m.Config
	var opts []nats.Option
	if c.NatsTLSCA != "" {
		opts = append(opts, nats.RootCAs(c.NatsTLSCA))
	}
	if c.NatsTLSCert != "" {
		opts = append(opts, nats.ClientCert(c.NatsTLSCert, c.NatsTLSKey))
	}
	probe := nats.GetDefaultOptions()
	for _, opt := range opts {
		if err := opt(&probe); err != nil {
			return fmt.Errorf("--nats-tls-*: %w", err)
		}
	}
	m.natsAuth = append(m.natsAuth, opts...)
	return nil
}

// checkCluster checks the embedded cluster's flags and sets m.cluster.
func (m *Main) checkCluster() error {
	c := m.Config
	if c.NatsServerName == "" {
		return errors.New("--nats-cluster-listen needs --nats-server-name: a name for this node's server, unique in the cluster (n1, n2, ...)")
	}
	if c.NatsClusterName == "" {
		return errors.New("--nats-cluster-name must not be empty")
	}
	host, portStr, err := net.SplitHostPort(c.NatsClusterListen)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port < 1 || port > 65535 {
		return fmt.Errorf("--nats-cluster-listen %q: want host:port, like 10.0.0.1:6222", c.NatsClusterListen)
	}
	if c.NatsClusterSecret == "" && !isLoopback(host) {
		return fmt.Errorf("--nats-cluster-listen %q is not on loopback: give --nats-cluster-secret (BOOMERANG_NATS_CLUSTER_SECRET), the same on every node, or anyone who reaches the port joins the cluster and reads every stream", c.NatsClusterListen)
	}
	routes := splitList(c.NatsRoutes)
	for _, r := range routes {
		if err := checkRoute(r); err != nil {
			return err
		}
	}
	m.cluster = &natsembed.Cluster{Name: c.NatsClusterName, ServerName: c.NatsServerName,
		Host: host, Port: port, Routes: routes, Secret: c.NatsClusterSecret}
	if c.NatsTLSCA == "" && c.NatsTLSCert == "" {
		return nil
	}
	m.cluster.TLS, err = routeTLS(c.NatsTLSCA, c.NatsTLSCert, c.NatsTLSKey)
	return err
}

// checkRoute checks one URL of --nats-routes, without showing a password
// it may hold.
func checkRoute(r string) error {
	u, err := url.Parse(r)
	switch {
	case err == nil && u.User != nil:
		return errors.New("--nats-routes: a URL has a user: routes authenticate with --nats-cluster-secret")
	case err != nil || (u.Scheme != "nats" && u.Scheme != "nats-route") || u.Hostname() == "" || u.Port() == "":
		return fmt.Errorf("--nats-routes: %q: want nats://host:port, the --nats-cluster-listen of another node", r)
	}
	return nil
}

// routeTLS returns the embedded cluster's route TLS configuration: this
// node's certificate, presented both when it dials and when it accepts,
// and the CAs (the system's when caFile is empty) that the other nodes'
// certificates must chain to, both ways.
func routeTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" {
		return nil, errors.New("--nats-tls-ca with an embedded cluster secures its routes, which needs this node's certificate too: give --nats-tls-cert and --nats-tls-key")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--nats-tls-cert/--nats-tls-key: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair},
		ClientAuth: tls.RequireAndVerifyClientCert}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--nats-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--nats-tls-ca %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs, cfg.ClientCAs = pool, pool
	}
	return cfg, nil
}

// isLoopback reports whether host (of a listen address) is a loopback
// interface only: not empty, which is every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// streamReplicas returns the streams' replication factor: --replicas, or
// clusterReplicas in an embedded cluster or on a NATS server that reports
// a cluster, else 1.
func (m *Main) streamReplicas() int {
	if m.Config.Replicas != 0 {
		return m.Config.Replicas
	}
	if m.cluster != nil {
		return clusterReplicas
	}
	if m.clustered() {
		m.Logger.Info("the NATS server is in a cluster: the streams get 3 replicas (--replicas sets another number)",
			"nats_cluster", m.conns[0].ConnectedClusterName())
		return clusterReplicas
	}
	return 1
}

// clustered reports whether the node's NATS server is one of a cluster:
// the embedded cluster's, or one that --nats-url reaches and that reports
// a cluster.
func (m *Main) clustered() bool {
	return m.cluster != nil || (len(m.conns) > 0 && m.conns[0].ConnectedClusterName() != "")
}

// logDurability says at start what an acknowledged write survives here:
// what --sync means depends on the topology.
func (m *Main) logDurability() {
	c := m.Config
	switch {
	case c.NatsURL != "":
		m.Logger.Info("durability: the NATS servers' own; a write is acknowledged once the stream has it (with replicas, a quorum of its servers); --sync applies to the embedded server only",
			"replicas", m.replicas)
	case m.cluster != nil && m.replicas == 1:
		m.Logger.Warn("--replicas 1 in an embedded cluster: each stream lives on one server, and is unavailable, or lost, with it", "sync", c.Sync)
	case m.cluster != nil && c.Sync == "server":
		m.Logger.Info("durability: a write is acknowledged once a quorum of the cluster's servers has it on disk (each fsyncs before it answers)",
			"replicas", m.replicas, "sync", c.Sync)
	case m.cluster != nil:
		m.Logger.Info("durability: a write is acknowledged once a quorum of the cluster's servers has it (written, fsynced on the servers' interval): it survives the loss of any minority of them, not a power loss of most at once (--sync server for that)",
			"replicas", m.replicas, "sync", c.Sync)
	default:
		m.Logger.Info("durability", "sync", c.Sync, "group_commit", m.commit != nil, "replicas", m.replicas)
	}
}

// connectionEvents are the options that log when a connection to
// --nats-url is lost and back (/readyz answers 503 in between).
func (m *Main) connectionEvents(name string) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() { // closed by the node: no news
				return
			}
			m.Logger.Warn("lost the connection to NATS; reconnecting (the node is not ready meanwhile)", "conn", name, "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			m.Logger.Info("connected to NATS again", "conn", name, "server", nc.ConnectedServerName(), "url", nc.ConnectedUrlRedacted())
			m.probe.Reconnected()
		}),
	}
}
