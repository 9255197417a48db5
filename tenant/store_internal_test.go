package tenant

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// newProjectedStore returns a store fed by a running projector, and the
// service that publishes to it.
func newProjectedStore(t *testing.T) (*Store, *Service) {
	t.Helper()
	js, _ := testenv.StartJetStream(t)
	ctx := context.Background()
	if _, err := js.CreateOrUpdateStream(ctx, StreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store := NewStore(db, nil)
	proj := projector.New(js, db, Stream, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = proj.Run(pctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return store, NewService(js, store, proj, nil)
}

// onFirstFill makes the store's first cache fill run change first, between
// its read and its fill, as if the projector had applied an event there.
func onFirstFill(t *testing.T, s *Store, change func() error) {
	var once sync.Once
	s.beforeFill = func() {
		once.Do(func() {
			if err := change(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRevocationDuringCacheFillIsNotCached(t *testing.T) {
	t.Parallel()
	store, service := newProjectedStore(t)
	ctx := context.Background()
	creds, err := service.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	apiKey, key, err := service.CreateKey(ctx, creds.TenantID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	onFirstFill(t, store, func() error { return service.RevokeKey(ctx, creds.TenantID, key.ID) })
	// This look-up read the key before the revocation: it may still pass,
	// like any request racing the revocation, but must not cache the key.
	_, _ = store.Authenticate(ctx, apiKey)
	if _, err := store.Authenticate(ctx, apiKey); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoked key after a racing look-up: got %v, want ErrUnauthorized", err)
	}
	if store.KeyActive(creds.TenantID, key.ID) {
		t.Fatal("revoked key after a racing look-up: KeyActive reports it active")
	}
}

func TestRotationDuringCacheFillIsNotCached(t *testing.T) {
	t.Parallel()
	store, service := newProjectedStore(t)
	ctx := context.Background()
	creds, err := service.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	onFirstFill(t, store, func() error {
		_, err := service.RotateSecret(ctx, creds.TenantID, time.Hour)
		return err
	})
	_, _ = store.SigningSecrets(creds.TenantID)
	secrets, err := store.SigningSecrets(creds.TenantID)
	if err != nil || len(secrets) != 2 || secrets[1].String() != creds.SigningSecret {
		t.Fatalf("after a rotation racing the look-up: got %d secrets (%v), want the new then the old", len(secrets), err)
	}
}
