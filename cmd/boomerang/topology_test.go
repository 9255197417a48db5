package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
)

// startNodesAtOnce starts one node per list of arguments, all at the same
// moment, and fails unless every one starts and becomes ready.
func startNodesAtOnce(t *testing.T, argsPerNode ...[]string) []*testNode {
	t.Helper()
	nodes := make([]*testNode, len(argsPerNode))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, args := range argsPerNode {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			nodes[i] = MustRunMain(testenv.InGoroutine(t), args...)
		}()
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return nodes
}

// checkReplicated fails unless every Boomerang stream and durable
// consumer has replicas copies, one of them the leader.
func checkReplicated(t *testing.T, js jetstream.JetStream, replicas int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer cancel()
	names := js.StreamNames(ctx)
	var streams int
	for name := range names.Name() {
		if !strings.HasPrefix(name, "BOOMERANG_") {
			continue
		}
		streams++
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info := s.CachedInfo()
		if info.Config.Replicas != replicas || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != replicas-1 {
			t.Errorf("stream %s: got %d replicas configured, cluster %+v; want %d, a leader and %d more", name, info.Config.Replicas, info.Cluster, replicas, replicas-1)
		}
		consumers := s.ListConsumers(ctx)
		for ci := range consumers.Info() {
			if ci.Config.Durable == "" {
				continue // a projector's ordered consumer: this node's alone
			}
			if ci.Cluster == nil || ci.Cluster.Leader == "" || len(ci.Cluster.Replicas) != replicas-1 {
				t.Errorf("consumer %s of %s: cluster %+v; want a leader and %d more", ci.Name, name, ci.Cluster, replicas-1)
			}
		}
		if err := consumers.Err(); err != nil {
			t.Fatalf("consumers of %s: %v", name, err)
		}
	}
	if err := names.Err(); err != nil || streams < 4 {
		t.Fatalf("streams: got %d (%v), want the task, schedule, tenant and config streams", streams, err)
	}
}

// runTaskAcross creates a tenant on one node and a task on another, and
// fails unless a third sees its target called once and its webhook
// delivered once.
func runTaskAcross(t *testing.T, create, tenantNode, watch *testNode) {
	t.Helper()
	_, creds := tenantNode.tenantClient(t, fmt.Sprintf("acme-%d", time.Now().UnixNano()))
	runTask(t, creds, create, watch)
}

// runTask creates a task of the tenant on one node, and fails unless
// another sees its target called once and its webhook delivered once.
func runTask(t *testing.T, creds tenant.Credentials, create, watch *testNode) {
	t.Helper()
	target := testenv.NewTarget(t, answer(200))
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	on := func(n *testNode) *testenv.Client {
		return &testenv.Client{Base: n.URL(), Key: creds.APIKey, Contract: apiContract}
	}
	task := createTask(t, on(create), map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	got := waitTask(t, on(watch), task.ID, 60*time.Second, webhookSettled)
	if got.Status != broker.StatusSucceeded || got.Webhook.Status != broker.WebhookDelivered {
		t.Fatalf("task %s: got %s, webhook %s; want succeeded and delivered", task.ID, got.Status, got.Webhook.Status)
	}
	if calls, hooks := len(target.CallsFor(task.ID)), len(receiver.For(task.ID)); calls != 1 || hooks != 1 {
		t.Fatalf("task %s: %d target calls, %d webhooks; want 1 and 1", task.ID, calls, hooks)
	}
}

// TestNodesStartedAtOnceOnAFreshCluster starts three nodes at the same
// moment on a fresh three-server cluster: each one creates (or finds) the
// streams and consumers, all become ready, with three replicas by
// default, and share the work.
func TestNodesStartedAtOnceOnAFreshCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 3)
	args := []string{"--nats-url", cluster.URLs(), "--secret-key", newSecretKey(t)}
	nodes := startNodesAtOnce(t, args, args, args)
	for i, n := range nodes {
		if n.replicas != 3 {
			t.Errorf("node %d: got %d replicas, want 3 (the default on a cluster)", i, n.replicas)
		}
	}
	checkReplicated(t, nodes[0].js, 3)
	runTaskAcross(t, nodes[1], nodes[0], nodes[2])
}

// TestExternalClusterCredentialsAndTLS runs nodes on a cluster whose
// servers admit only a user with a password and an nkey user, over TLS
// with client certificates: a node connects with either, and one without
// the password, the certificate or the CA does not.
func TestExternalClusterCredentialsAndTLS(t *testing.T) {
	t.Parallel()
	const password = "correct horse battery staple"
	ca := testenv.NewCA(t)
	serverCert, serverKey := ca.Issue(t, "nats")
	serverTLS, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: serverCert, KeyFile: serverKey, CaFile: ca.File, Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	seedFile, nkeyUser := newNkeyUser(t)
	clientCert, clientKey := ca.Issue(t, "node")
	cluster := testenv.StartCluster(t, 3, testenv.WithServerOptions(func(_ int, o *server.Options) {
		o.TLSConfig, o.TLS, o.TLSVerify, o.TLSTimeout = serverTLS, true, true, 5
		o.Users = []*server.User{{Username: "boomerang", Password: password}}
		o.Nkeys = []*server.NkeyUser{{Nkey: nkeyUser}}
	}, nats.UserInfo("boomerang", password), nats.RootCAs(ca.File), nats.ClientCert(clientCert, clientKey)))

	secretKey := newSecretKey(t)
	base := []string{"--nats-url", cluster.URLs(), "--secret-key", secretKey}
	tlsArgs := []string{"--nats-tls-ca", ca.File, "--nats-tls-cert", clientCert, "--nats-tls-key", clientKey}
	withPassword := append(append([]string{"--nats-user", "boomerang", "--nats-password", password}, base...), tlsArgs...)
	withNkey := append(append([]string{"--nats-nkey", seedFile}, base...), tlsArgs...)
	nodes := startNodesAtOnce(t, withPassword, withNkey)
	checkReplicated(t, nodes[1].js, 3)
	runTaskAcross(t, nodes[1], nodes[0], nodes[0])
	for i, n := range nodes {
		if strings.Contains(n.Log.String(), password) {
			t.Errorf("node %d's log shows the NATS password", i)
		}
	}

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"wrong password":     {append(append([]string{"--nats-user", "boomerang", "--nats-password", "wrong"}, base...), tlsArgs...), "authorization"},
		"no credentials":     {append(append([]string{}, base...), tlsArgs...), "authorization"},
		"no CA":              {append(append([]string{"--nats-nkey", seedFile}, base...), "--nats-tls-cert", clientCert, "--nats-tls-key", clientKey), "certificate"},
		"no client cert":     {append(append([]string{"--nats-nkey", seedFile}, base...), "--nats-tls-ca", ca.File), "tls"},
		"another CA's cert":  {append(append([]string{"--nats-nkey", seedFile}, base...), otherCATLS(t, ca.File)...), "tls"},
		"no TLS, right user": {append([]string{"--nats-nkey", seedFile}, base...), "certificate"},
	} {
		m, logBuf := newTestMain(t, t.TempDir(), tc.args...)
		err := m.Run(context.Background())
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), tc.want) {
			t.Errorf("%s: got %v, want an error about %s\nlog:\n%s", name, err, tc.want, logBuf)
		}
	}
}

// newNkeyUser writes a new user's nkey seed to a file and returns the
// file and the user's public key.
func newNkeyUser(t *testing.T) (seedFile, public string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	public, _ = kp.PublicKey()
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, public
}

// otherCATLS returns --nats-tls-* flags with a client certificate of
// another CA (and the right CA to verify the servers with).
func otherCATLS(t *testing.T, caFile string) []string {
	t.Helper()
	cert, key := testenv.NewCA(t).Issue(t, "stranger")
	return []string{"--nats-tls-ca", caFile, "--nats-tls-cert", cert, "--nats-tls-key", key}
}

// TestReadyzFollowsTheNATSConnection cuts the NATS server a node is
// connected to off the others: /readyz answers 503 until the partition
// heals. Then it kills that server: the node goes on through another.
// With every server down /readyz answers 503; once two servers are back
// it answers 200 again and the node works.
func TestReadyzFollowsTheNATSConnection(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 3)
	node := MustRunMain(t, "--nats-url", cluster.URLs(), "--secret-key", newSecretKey(t))
	first := cluster.Index(node.conns[0].ConnectedServerName())
	if first < 0 {
		t.Fatalf("connected to %q, not a server of the cluster", node.conns[0].ConnectedServerName())
	}
	cluster.Partition(first)
	pollUntil(t, "/readyz 503 on the minority side", func() bool { return readyz(t, node) == http.StatusServiceUnavailable })
	cluster.Heal(first)
	pollUntil(t, "/readyz 200 after the heal", func() bool { return readyz(t, node) == http.StatusOK })

	cluster.Kill(first)
	pollUntil(t, "every connection on another server, and /readyz 200", func() bool {
		for _, nc := range node.conns {
			if !nc.IsConnected() || nc.ConnectedServerName() == cluster.Name(first) {
				return false
			}
		}
		return readyz(t, node) == http.StatusOK
	})

	others := []int{(first + 1) % 3, (first + 2) % 3}
	for _, i := range others {
		cluster.Kill(i)
	}
	pollUntil(t, "/readyz 503 with every NATS server down", func() bool { return readyz(t, node) == http.StatusServiceUnavailable })
	if !strings.Contains(node.Log.String(), "lost the connection to NATS") {
		t.Error("the log does not say that the connection was lost")
	}
	cluster.Start(first)
	cluster.Start(others[0])
	pollUntil(t, "/readyz 200 with two servers back", func() bool { return readyz(t, node) == http.StatusOK })
	// The projectors' consumers come back on their own schedule (nats.go
	// resets an ordered consumer with a backoff of up to 10 s): until
	// then a write is made but not yet seen (a tenant is answered 500, a
	// task 404).
	var creds tenant.Credentials
	pollUntil(t, "a tenant made and seen after the outage", func() bool {
		r := node.Admin.Do(t, http.MethodPost, "/admin/v1/tenants", map[string]string{"name": fmt.Sprintf("acme-%d", time.Now().UnixNano())})
		if r.Status != http.StatusCreated {
			return false
		}
		r.JSON(t, &creds)
		return true
	})
	client := &testenv.Client{Base: node.URL(), Key: creds.APIKey, Contract: apiContract}
	target := testenv.NewTarget(t, answer(200))
	pollUntil(t, "a task made and seen after the outage", func() bool {
		task := createTask(t, client, map[string]any{"targetUrl": target.URL})
		return client.Do(t, http.MethodGet, "/v1/tasks/"+task.ID, nil).Status == http.StatusOK
	})
	runTask(t, creds, node, node)
}

// readyz returns the status of the node's /readyz.
func readyz(t *testing.T, n *testNode) int {
	t.Helper()
	resp, err := http.Get(n.URL() + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestEmbeddedCluster runs three nodes whose embedded servers form one
// JetStream cluster (routes authenticated and over TLS): the streams have
// three replicas, and a task created on one node runs and is delivered,
// as seen from another. A node with another cluster secret does not join.
func TestEmbeddedCluster(t *testing.T) {
	t.Parallel()
	const secret = "the-cluster-secret-0123456789"
	ca := testenv.NewCA(t)
	addrs := []string{freeAddr(t), freeAddr(t), freeAddr(t)}
	routes := "nats://" + strings.Join(addrs, ",nats://")
	secretKey := newSecretKey(t)
	nodeArgs := func(name, listen, clusterSecret string) []string {
		cert, key := ca.Issue(t, name)
		return []string{"--nats-server-name", name, "--nats-cluster-listen", listen, "--nats-routes", routes,
			"--nats-cluster-secret", clusterSecret, "--nats-tls-ca", ca.File, "--nats-tls-cert", cert, "--nats-tls-key", key,
			"--secret-key", secretKey}
	}
	nodes := startNodesAtOnce(t, nodeArgs("n1", addrs[0], secret), nodeArgs("n2", addrs[1], secret), nodeArgs("n3", addrs[2], secret))
	checkReplicated(t, nodes[2].js, 3)
	runTaskAcross(t, nodes[1], nodes[0], nodes[2])

	// Node n4 knows the routes, has a certificate of the cluster's CA,
	// but not the secret: the others refuse its routes, so it has no
	// meta leader and waits, until its start is called off.
	stranger, logBuf := newTestMain(t, t.TempDir(), nodeArgs("n4", freeAddr(t), "another-secret-0123456789")...)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan error, 1)
	go func() { started <- stranger.Run(ctx) }()
	pollUntil(t, "n4's routes refused", func() bool {
		return strings.Contains(strings.ToLower(logBuf.String()), "authorization violation")
	})
	cancel()
	if err := <-started; err == nil {
		t.Fatal("a node with another cluster secret started")
	}
	for i, n := range append(nodes, &testNode{Log: logBuf}) {
		if strings.Contains(n.Log.String(), secret) || strings.Contains(n.Log.String(), "another-secret") {
			t.Errorf("node %d's log shows a cluster secret", i+1)
		}
	}
}

// TestTopologyFlags: what the topology flags refuse, with a clear error
// that shows no secret.
func TestTopologyFlags(t *testing.T) {
	t.Parallel()
	cert, key := testenv.NewCA(t).Issue(t, "node")
	cluster := []string{"--nats-server-name", "n1", "--nats-cluster-listen", "127.0.0.1:6222"}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"cluster on all interfaces without a secret": {[]string{"--nats-server-name", "n1", "--nats-cluster-listen", ":6222"}, "--nats-cluster-secret"},
		"cluster on an address without a secret":     {[]string{"--nats-server-name", "n1", "--nats-cluster-listen", "10.0.0.1:6222"}, "--nats-cluster-secret"},
		"cluster without a server name":              {[]string{"--nats-cluster-listen", "127.0.0.1:6222"}, "--nats-server-name"},
		"cluster listen without a port":              {[]string{"--nats-server-name", "n1", "--nats-cluster-listen", "127.0.0.1"}, "host:port"},
		"routes without a cluster":                   {[]string{"--nats-routes", "nats://127.0.0.1:6223"}, "need --nats-cluster-listen"},
		"a route that is no URL":                     {append(cluster, "--nats-routes", "127.0.0.1:6223"), "nats://host:port"},
		"a route with a password":                    {append(cluster, "--nats-routes", "nats://u:hunter2@127.0.0.1:6223"), "--nats-cluster-secret"},
		"cluster and --nats-url":                     {append(cluster, "--nats-url", "nats://127.0.0.1:4222"), "--nats-url"},
		"TLS without a NATS to secure":               {[]string{"--nats-tls-cert", cert, "--nats-tls-key", key}, "--nats-url"},
		"a certificate without its key":              {[]string{"--nats-url", "nats://127.0.0.1:4222", "--nats-tls-cert", cert}, "--nats-tls-key"},
		"a CA file that is missing":                  {[]string{"--nats-url", "nats://127.0.0.1:4222", "--nats-tls-ca", "/nonexistent/ca.pem"}, "--nats-tls"},
		"route TLS without a certificate":            {append(cluster, "--nats-tls-ca", cert), "--nats-tls-cert"},
		"six replicas":                               {[]string{"--replicas", "6"}, "--replicas"},
		"no start timeout":                           {[]string{"--start-timeout", "0s"}, "--start-timeout"},
	} {
		err := NewMain().ParseFlags(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: got %v, want an error about %s", name, err, tc.want)
		}
	}
	// The secret comes from the environment, like every flag.
	m := NewMain()
	env := map[string]string{"BOOMERANG_NATS_CLUSTER_SECRET": "s3cret", "BOOMERANG_NATS_SERVER_NAME": "n1",
		"BOOMERANG_NATS_CLUSTER_LISTEN": "10.0.0.1:6222", "BOOMERANG_NATS_ROUTES": "nats://10.0.0.2:6222,nats://10.0.0.3:6222"}
	if err := m.ParseFlags(nil, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatalf("a cluster from the environment: %v", err)
	}
	if c := m.cluster; c == nil || c.Secret != "s3cret" || c.ServerName != "n1" || c.Port != 6222 || len(c.Routes) != 2 || c.Name != "boomerang" {
		t.Fatalf("a cluster from the environment: got %+v", m.cluster)
	}
}

// TestNATSCredsFile runs a node on a NATS server in operator mode, as a
// user of a credentials file (--nats-creds): it connects and works, and
// the seed in the file is not logged.
func TestNATSCredsFile(t *testing.T) {
	t.Parallel()
	operator, _ := nkeys.CreateOperator()
	issue := func(c interface {
		Encode(nkeys.KeyPair) (string, error)
	}, by nkeys.KeyPair) string {
		token, err := c.Encode(by)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	opub, _ := operator.PublicKey()
	ojwt := issue(jwt.NewOperatorClaims(opub), operator)
	oc, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	account := func(jetStream bool) (nkeys.KeyPair, string) {
		kp, _ := nkeys.CreateAccount()
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		if jetStream {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		if err := resolver.Store(pub, issue(ac, operator)); err != nil {
			t.Fatal(err)
		}
		return kp, pub
	}
	_, system := account(false)
	app, _ := account(true)
	user, _ := nkeys.CreateUser()
	upub, _ := user.PublicKey()
	seed, _ := user.Seed()
	creds, err := jwt.FormatUserConfig(issue(jwt.NewUserClaims(upub), app), seed)
	if err != nil {
		t.Fatal(err)
	}
	credsFile := filepath.Join(t.TempDir(), "boomerang.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, TrustedOperators: []*jwt.OperatorClaims{oc}, AccountResolver: resolver, SystemAccount: system})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(testenv.GiveUpAfter) {
		t.Fatal("nats-server not ready")
	}
	node := MustRunMain(t, "--nats-url", ns.ClientURL(), "--nats-creds", credsFile, "--secret-key", newSecretKey(t))
	runTaskAcross(t, node, node, node)
	if strings.Contains(node.Log.String(), string(seed)) {
		t.Fatal("the log shows the user's seed")
	}
	m, _ := newTestMain(t, t.TempDir(), "--nats-url", ns.ClientURL(), "--secret-key", newSecretKey(t))
	if err := m.Run(context.Background()); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("a node without the credentials: got %v, want an authorization error", err)
	}
}
