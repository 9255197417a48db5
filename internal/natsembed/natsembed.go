// Package natsembed runs a nats-server with JetStream inside the Boomerang
// process. `boomerang serve` uses it by default and the tests use it too, so
// both run on the same server code.
package natsembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Config says how to run the embedded server.
type Config struct {
	// Dir holds the JetStream file store (the server adds jetstream/).
	Dir string
	// Port is the client port to listen on, on 127.0.0.1; zero listens on
	// none, so only this process can reach the server.
	Port int
	// SyncAlways makes JetStream fsync every write before acknowledging it.
	// When false the server syncs on its own interval (two minutes), which
	// survives a process crash but not a power loss.
	SyncAlways bool
	// MaxPayload is the largest message the server takes, headers
	// included; zero means DefaultMaxPayload.
	MaxPayload int32
}

// DefaultMaxPayload is the embedded server's message limit: room for a
// task's payload (1 MiB by default) and for an attempt's recorded response.
const DefaultMaxPayload = 8 << 20

// readyTimeout bounds the wait for the server to start.
const readyTimeout = 10 * time.Second

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
		ServerName: "boomerang",
		JetStream:  true,
		StoreDir:   cfg.Dir,
		SyncAlways: cfg.SyncAlways,
		NoSigs:     true,
		MaxPayload: cfg.MaxPayload,
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if cfg.Port == 0 {
		opts.DontListen = true
	} else {
		opts.Host, opts.Port = "127.0.0.1", cfg.Port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: new server: %w", err)
	}
	if logger != nil {
		ns.SetLoggerV2(&slogAdapter{logger.With("component", "nats-server")}, false, false, false)
	}
	ns.Start() // does not block: the server's own goroutines run on until Shutdown
	if !ns.ReadyForConnections(readyTimeout) {
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
