package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// runServe is `boomerang serve`: run until interrupted, then stop
// gracefully. It returns an error when a part of the node died, so that a
// supervisor restarts it.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := NewMain()
	m.Stdout = stdout
	if err := m.ParseFlags(args, os.Getenv, stderr); err != nil {
		return err
	}
	logger, err := m.newLogger(stderr)
	if err != nil {
		return err
	}
	m.Logger = logger
	if err := m.Run(ctx); err != nil {
		return err
	}
	return m.runUntil(ctx)
}

// runUntil lets the running node serve until ctx ends or a part of it
// dies, then closes it. It returns nil after a clean stop, or why a part
// died.
func (m *Main) runUntil(ctx context.Context) error {
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down")
	case <-m.Died():
		m.Logger.Error("shutting down: a part of the node stopped")
	}
	return m.Close()
}

// newLogger is the logger --log-level and --log-format ask for.
func (m *Main) newLogger(stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(m.Config.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	if m.Config.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(stderr, opts)), nil
}
