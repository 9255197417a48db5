package natsembed

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startWithPort(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Dir, cfg.Port = t.TempDir(), -1 // any free port
	s, err := Start(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func newUser(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return kp, pub
}

// giveUpAfter bounds a connection the test needs to succeed: only a hang,
// as testenv.GiveUpAfter does (testenv imports this package).
const giveUpAfter = time.Minute

// tryConnect connects to the client port over TCP and, once connected,
// asks for the JetStream account information: what an attacker would do
// first.
func tryConnect(addr string, opts ...nats.Option) error {
	nc, err := nats.Connect("nats://"+addr, append(opts, nats.NoReconnect(), nats.Timeout(giveUpAfter))...)
	if err != nil {
		return err
	}
	defer nc.Close()
	_, err = nc.Request("$JS.API.INFO", nil, giveUpAfter)
	return err
}

// TestClientPortNeedsCredentials: without credentials, with wrong ones,
// and with the in-process user's own key, the port refuses; with the
// configured nkey or user and password it admits.
func TestClientPortNeedsCredentials(t *testing.T) {
	t.Parallel()
	kp, pub := newUser(t)
	s := startWithPort(t, Config{ClientNkey: pub, User: "ops", Password: "correct horse battery staple"})
	addr := s.Addr().String()
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Fatalf("the client port listens on %s, want 127.0.0.1 by default", addr)
	}
	stranger, strangerPub := newUser(t)
	inProcessPub, _ := s.inProcess.PublicKey()
	refused := map[string][]nats.Option{
		"no credentials":    nil,
		"wrong password":    {nats.UserInfo("ops", "wrong")},
		"unknown user":      {nats.UserInfo("admin", "correct horse battery staple")},
		"unknown nkey":      {nats.Nkey(strangerPub, stranger.Sign)},
		"in-process user":   {nats.Nkey(inProcessPub, s.inProcess.Sign)},
		"nkey without seed": {nats.Nkey(pub, stranger.Sign)},
	}
	for name, opts := range refused {
		err := tryConnect(addr, opts...)
		if err == nil || !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("%s: got %v, want an authorization error", name, err)
		}
	}
	for name, opts := range map[string][]nats.Option{
		"nkey":              {nats.Nkey(pub, kp.Sign)},
		"user and password": {nats.UserInfo("ops", "correct horse battery staple")},
	} {
		if err := tryConnect(addr, opts...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	nc, err := s.Connect()
	if err != nil {
		t.Fatalf("in-process connection: %v", err)
	}
	nc.Close()
}

// TestClientPortOnlyOnItsHost: the default port is not reachable on the
// machine's other addresses.
func TestClientPortOnlyOnItsHost(t *testing.T) {
	t.Parallel()
	_, pub := newUser(t)
	s := startWithPort(t, Config{ClientNkey: pub})
	_, port, _ := net.SplitHostPort(s.Addr().String())
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.To4() == nil {
			continue
		}
		tried++
		if conn, err := net.Dial("tcp", net.JoinHostPort(ipnet.IP.String(), port)); err == nil {
			conn.Close()
			t.Errorf("the client port answers on %s", ipnet.IP)
		}
	}
	if tried == 0 {
		t.Log("no other IPv4 address on this machine: only the listen address was checked")
	}
}

func TestPortWithoutUsersRefused(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"no user":          {},
		"user, no pass":    {User: "ops"},
		"not a user's key": {ClientNkey: "NotAKey"},
	} {
		cfg.Dir, cfg.Port = t.TempDir(), -1
		if s, err := Start(cfg, nil); err == nil {
			s.Shutdown()
			t.Errorf("%s: started", name)
		}
	}
}
