package tenant_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type bundle struct {
	store   *tenant.Store
	service *tenant.Service
	clock   *clock
	dbPath  string
	js      jetstream.JetStream
	keys    *secretbox.Keyring
}

func setup(t *testing.T) bundle {
	t.Helper()
	js, _ := testenv.StartJetStream(t)
	ctx := context.Background()
	if _, err := js.CreateOrUpdateStream(ctx, tenant.StreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	keys := testenv.SecretKeys(t)
	store := tenant.NewStore(db, keys, clk.Now)
	proj := projector.New(js, db, tenant.Stream, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = proj.Run(pctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return bundle{store: store, service: tenant.NewService(js, store, proj, clk.Now), clock: clk, dbPath: filepath.Join(dir, "view.db"), js: js, keys: keys}
}

func TestCreateAndAuthenticate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	creds, err := b.service.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.store.Authenticate(context.Background(), creds.APIKey)
	if err != nil || p.TenantID != creds.TenantID {
		t.Fatalf("authenticate: got %+v %v, want tenant %s", p, err, creds.TenantID)
	}
	// The same id with a different secret part, a truncated key and garbage fail.
	forged := creds.APIKey[:len(creds.APIKey)-1] + "a"
	if forged == creds.APIKey {
		forged = creds.APIKey[:len(creds.APIKey)-1] + "b"
	}
	for _, bad := range []string{forged, creds.APIKey[:20], "", "bk_", strings.ToUpper(creds.APIKey)} {
		if _, err := b.store.Authenticate(context.Background(), bad); !errors.Is(err, tenant.ErrUnauthorized) {
			t.Errorf("authenticate %q: got %v, want ErrUnauthorized", bad, err)
		}
	}
	if _, err := b.service.CreateWithID(ctx, creds.TenantID, "again"); !errors.Is(err, tenant.ErrExists) {
		t.Fatalf("second create with the same id: got %v, want ErrExists", err)
	}
}

func TestKeysAreStoredOnlyAsHashes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	creds, err := b.service.Create(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(b.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	secretPart := creds.APIKey[strings.LastIndex(creds.APIKey, "_")+1:]
	if bytes.Contains(data, []byte(secretPart)) {
		t.Fatal("the view holds the API key's secret part in plain text")
	}
}

func TestRevokedKeyStopsWorking(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	creds, _ := b.service.Create(ctx, "acme")
	second, key, err := b.service.CreateKey(ctx, creds.TenantID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.service.RevokeKey(ctx, creds.TenantID, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Authenticate(context.Background(), second); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Fatalf("revoked key: got %v, want ErrUnauthorized", err)
	}
	if _, err := b.store.Authenticate(context.Background(), creds.APIKey); err != nil {
		t.Fatalf("the other key: got %v, want it to keep working", err)
	}
	other, _ := b.service.Create(ctx, "other")
	otherTenant, _ := b.store.Get(other.TenantID)
	if err := b.service.RevokeKey(ctx, creds.TenantID, otherTenant.Keys[0].ID); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("revoking another tenant's key: got %v, want ErrNotFound", err)
	}
	if _, err := b.store.Authenticate(context.Background(), other.APIKey); err != nil {
		t.Fatalf("other tenant's key: got %v, want it untouched", err)
	}
}

func TestRotatedSecretSignsDuringOverlap(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	creds, _ := b.service.Create(ctx, "acme")
	newSecret, err := b.service.RotateSecret(ctx, creds.TenantID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets, _ := b.store.SigningSecrets(creds.TenantID)
	if len(secrets) != 2 || secrets[0].String() != newSecret.String() || secrets[1].String() != creds.SigningSecret {
		t.Fatalf("during the overlap: got %d secrets, want the new then the old", len(secrets))
	}
	b.clock.Add(time.Hour + time.Second)
	secrets, _ = b.store.SigningSecrets(creds.TenantID)
	if len(secrets) != 1 || secrets[0].String() != newSecret.String() {
		t.Fatalf("after the overlap: got %d secrets, want only the new one", len(secrets))
	}
}

func TestAdminToken(t *testing.T) {
	t.Parallel()
	a := tenant.NewAdminToken("s3cret-token")
	if !a.Check("s3cret-token") || a.Check("s3cret-tokeN") || a.Check("") {
		t.Fatal("admin token check is wrong")
	}
	if none := tenant.NewAdminToken(""); none.Enabled() || none.Check("") {
		t.Fatal("an empty admin token must accept nothing")
	}
}
