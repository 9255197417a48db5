// Package natsembed runs a nats-server with JetStream inside the Boomerang
// process. `boomerang serve` uses it by default and the tests use it too, so
// both run on the same server code.
package natsembed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// Config says how to run the embedded server.
type Config struct {
	// Dir holds the JetStream file store (the server adds jetstream/).
	Dir string
	// Port is the client port to listen on; zero listens on none, so only
	// this process can reach the server. The port admits only the users
	// below, and gives them everything the server holds.
	Port int
	// Host is the interface of the client port; empty means 127.0.0.1.
	Host string
	// ClientNkey is the public key ("U…") of a user the client port
	// admits: the client proves it holds the seed by signing a nonce.
	ClientNkey string
	// User and Password, when set, are a user the client port admits.
	User, Password string
	// SyncAlways makes JetStream fsync every write before acknowledging it.
	// When false the server syncs on its own interval (two minutes), which
	// survives a process crash but not a power loss, unless a group
	// commit (internal/groupcommit on StreamsDir) syncs after each
	// acknowledgement.
	SyncAlways bool
	// MaxPayload is the largest message the server takes, headers
	// included; zero means DefaultMaxPayload.
	MaxPayload int32
	// Cluster, when not nil, makes the server one of a JetStream cluster
	// of embedded servers (see Cluster).
	Cluster *Cluster
}

// DefaultServerName is the name of a server that is not in a cluster.
const DefaultServerName = "boomerang"

// DefaultMaxPayload is the embedded server's message limit: room for a
// task's payload (1 MiB by default) and for an attempt's recorded response.
const DefaultMaxPayload = 8 << 20

// StreamsDir returns the directory under which the server started on dir
// keeps its streams' file stores, one directory per stream (every user of
// the embedded server is in the global account).
func StreamsDir(dir string) string {
	return filepath.Join(dir, server.JetStreamStoreDir, server.DEFAULT_GLOBAL_ACCOUNT, "streams")
}

// readyTimeout bounds the wait for the server to start; readyPoll is how
// often the wait looks for a fatal error meanwhile.
const (
	readyTimeout = 10 * time.Second
	readyPoll    = 100 * time.Millisecond
)

// Server is a running embedded nats-server.
type Server struct {
	ns *server.Server
	// inProcess is the user of this process's own connections, made
	// afresh at every start and admitted on in-process connections only.
	inProcess nkeys.KeyPair
}

// Connection types a user may be limited to (nats-server's names).
const (
	connInProcess = "IN_PROCESS"
	connStandard  = "STANDARD"
)

// Start starts a nats-server with JetStream on cfg.Dir and waits until it
// accepts connections. Every connection must authenticate: this process's
// own, through Connect, as a user that exists only in memory and only for
// in-process connections; the client port's, as cfg's users.
func Start(cfg Config, logger *slog.Logger) (*Server, error) {
	opts, inProcess, err := options(cfg)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// The server's fatal errors (a port it cannot listen on) only log:
	// the adapter hands the first one to the wait below.
	fatal := make(chan string, 1)
	ns.SetLoggerV2(&slogAdapter{l: logger.With("component", "nats-server"), fatal: fatal}, false, false, false)
	ns.Start() // does not block: the server's own goroutines run on until Shutdown
	if err := waitReady(ns, fatal); err != nil {
		ns.Shutdown()
		return nil, err
	}
	return &Server{ns: ns, inProcess: inProcess}, nil
}

// waitReady waits until ns listens on every port it was given, and fails
// at once when it reports it cannot (a client or cluster port in use, say)
// rather than at readyTimeout.
func waitReady(ns *server.Server, fatal <-chan string) error {
	deadline := time.Now().Add(readyTimeout)
	for !ns.ReadyForConnections(readyPoll) {
		select {
		case msg := <-fatal:
			return fmt.Errorf("natsembed: %s", msg)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("natsembed: server not ready in time")
		}
	}
	return nil
}

// options returns the server's options for cfg and the key pair of the
// in-process user.
func options(cfg Config) (*server.Options, nkeys.KeyPair, error) {
	if cfg.Dir == "" {
		return nil, nil, errors.New("natsembed: no directory for the JetStream store")
	}
	inProcess, err := nkeys.CreateUser()
	if err != nil {
		return nil, nil, fmt.Errorf("natsembed: in-process user: %w", err)
	}
	pub, err := inProcess.PublicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("natsembed: in-process user: %w", err)
	}
	opts := &server.Options{
		ServerName: DefaultServerName,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		SyncAlways: cfg.SyncAlways,
		NoSigs:     true,
		MaxPayload: cmp.Or(cfg.MaxPayload, DefaultMaxPayload),
		Nkeys:      []*server.NkeyUser{{Nkey: pub, AllowedConnectionTypes: only(connInProcess)}},
	}
	if cfg.Cluster != nil {
		if err := cfg.Cluster.apply(opts); err != nil {
			return nil, nil, err
		}
	}
	if cfg.Port == 0 {
		if cfg.Cluster == nil {
			opts.DontListen = true
			return opts, inProcess, nil
		}
		// nats-server starts its routes only once its client port
		// listens: a port on loopback that admits no one (every user is
		// in-process or the operator's, and there is no operator's).
		opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
		return opts, inProcess, nil
	}
	opts.Host, opts.Port = cmp.Or(cfg.Host, "127.0.0.1"), cfg.Port
	if err := addPortUsers(opts, cfg); err != nil {
		return nil, nil, err
	}
	return opts, inProcess, nil
}

// addPortUsers adds the users the client port admits.
func addPortUsers(opts *server.Options, cfg Config) error {
	if cfg.ClientNkey == "" && cfg.User == "" {
		return errors.New("natsembed: a client port needs a user (ClientNkey, or User and Password)")
	}
	if cfg.ClientNkey != "" {
		if !nkeys.IsValidPublicUserKey(cfg.ClientNkey) {
			return errors.New("natsembed: ClientNkey is not the public key of a user")
		}
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: cfg.ClientNkey, AllowedConnectionTypes: only(connStandard)})
	}
	if cfg.User != "" {
		if cfg.Password == "" {
			return errors.New("natsembed: User needs a Password")
		}
		// The server keeps a bcrypt hash, not the password (and does not
		// warn about plaintext passwords). The hash never leaves the
		// process, so the cost guards against nothing and the lowest is
		// enough: every connection pays it.
		hash, err := bcrypt.GenerateFromPassword([]byte(cfg.Password), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("natsembed: password: %w", err)
		}
		opts.Users = []*server.User{{Username: cfg.User, Password: string(hash), AllowedConnectionTypes: only(connStandard)}}
	}
	return nil
}

func only(connType string) map[string]struct{} { return map[string]struct{}{connType: {}} }

// Addr returns the address of the client port, or nil when there is none.
func (s *Server) Addr() net.Addr { return s.ns.Addr() }

// Connect returns a client connection to the server that does not touch the
// network, whether or not the server listens on a port.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	pub, err := s.inProcess.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("natsembed: connect: %w", err)
	}
	opts = append([]nats.Option{nats.InProcessServer(s.ns), nats.Name("boomerang"), nats.Nkey(pub, s.inProcess.Sign)}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("natsembed: connect: %w", err)
	}
	return nc, nil
}

// Shutdown stops the server and waits until it has flushed its store.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// slogAdapter routes nats-server's log lines into slog, and its first
// fatal error to fatal as well.
type slogAdapter struct {
	l     *slog.Logger
	fatal chan<- string
}

func (a *slogAdapter) Noticef(format string, v ...any) { a.log(levelTrace, format, v...) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.l.Error(msg)
	select {
	case a.fatal <- msg:
	default: // one is enough to fail the start
	}
}
func (a *slogAdapter) Errorf(format string, v ...any) { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any) { a.log(levelTrace, format, v...) }
func (a *slogAdapter) Tracef(format string, v ...any) {}

// levelTrace is below slog's Debug: the server's notices (its start-up
// banner among them) show only when asked for.
const levelTrace = slog.LevelDebug - 4

func (a *slogAdapter) log(level slog.Level, format string, v ...any) {
	if a.l.Enabled(context.Background(), level) {
		a.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}
