// Package natsembed runs a nats-server with JetStream inside the Boomerang
// process. `boomerang serve` uses it by default and the tests use it too, so
// both run on the same server code.
package natsembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config says how to run the embedded server.
type Config struct {
	// Dir holds the JetStream file store (Dir/jetstream).
	Dir string
	// Port is the client port to listen on; zero listens on none, so only
	// this process can reach the server.
	Port int
	// Host is the interface for Port; empty means 127.0.0.1.
	Host string
	// SyncAlways makes JetStream fsync every write before acknowledging it.
	// When false the server syncs every SyncInterval (its default is two
	// minutes), which survives a process crash but not a power loss.
	SyncAlways bool
	// SyncInterval overrides the server's periodic fsync interval when set.
	SyncInterval time.Duration
	// ReadyTimeout bounds the wait for the server to start; zero means 10 s.
	ReadyTimeout time.Duration
}

// Server is a running embedded nats-server.
type Server struct {
	ns *server.Server
}

// Start starts a nats-server with JetStream on cfg.Dir and waits until it
// accepts connections.
func Start(cfg Config, logger *slog.Logger) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("natsembed: no directory for the JetStream store")
	}
	opts := &server.Options{
		ServerName:   "boomerang",
		JetStream:    true,
		StoreDir:     filepath.Join(cfg.Dir),
		SyncAlways:   cfg.SyncAlways,
		SyncInterval: cfg.SyncInterval,
		NoSigs:       true,
		MaxPayload:   8 << 20,
	}
	if cfg.Port == 0 {
		opts.DontListen = true
	} else {
		opts.Host = cfg.Host
		if opts.Host == "" {
			opts.Host = "127.0.0.1"
		}
		opts.Port = cfg.Port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	if logger != nil {
		ns.SetLoggerV2(&slogAdapter{logger.With("component", "nats-server")}, false, false, false)
	}
	go ns.Start()
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	if !ns.ReadyForConnections(timeout) {
		ns.Shutdown()
		return nil, errors.New("natsembed: server not ready in time")
	}
	return &Server{ns: ns}, nil
}

// Connect returns a client connection to the server that does not touch the
// network, whether or not the server listens on a port.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.ns), nats.Name("boomerang")}, opts...)
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("natsembed: connect: %w", err)
	}
	return nc, nil
}

// ClientURL is the URL clients outside the process can dial, or "" when the
// server listens on no port.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits until it has flushed its store.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// slogAdapter routes nats-server's log lines into slog.
type slogAdapter struct{ l *slog.Logger }

func (a *slogAdapter) Noticef(format string, v ...any) { a.log(levelTrace, format, v...) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.log(levelTrace, format, v...) }
func (a *slogAdapter) Tracef(format string, v ...any)  {}

// levelTrace is below slog's Debug: the server's notices (its start-up
// banner among them) show only when asked for.
const levelTrace = slog.LevelDebug - 4

func (a *slogAdapter) log(level slog.Level, format string, v ...any) {
	if a.l.Enabled(context.Background(), level) {
		a.l.Log(context.Background(), level, fmt.Sprintf(format, v...))
	}
}
