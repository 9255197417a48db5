package tenant_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/tenant"
)

// TestSetRetention sets a tenant's retention within the bounds; every
// value outside them is refused and changes nothing, and another tenant
// keeps the default.
func TestSetRetention(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	day := 24 * time.Hour
	bounds := tenant.RetentionBounds{Default: 30 * day, Min: 2 * day, Max: 32 * day}
	acme, err := b.service.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.service.Create(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.store.Retention(acme.TenantID); got != 0 {
		t.Fatalf("a new tenant's retention: got %s, want 0 (the default)", got)
	}
	if err := b.service.SetRetention(ctx, acme.TenantID, 7*day, bounds); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, -day, day, 2*day - time.Second, 32*day + time.Second, 1000 * day} {
		if err := b.service.SetRetention(ctx, acme.TenantID, d, bounds); !errors.Is(err, tenant.ErrRetentionOutOfBounds) {
			t.Errorf("retention %s: got %v, want ErrRetentionOutOfBounds", d, err)
		}
	}
	if err := b.service.SetRetention(ctx, "ten_nobody", 7*day, bounds); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("unknown tenant: got %v, want ErrNotFound", err)
	}
	got, err := b.store.Get(acme.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Retention != 7*day || b.store.Retention(acme.TenantID) != 7*day {
		t.Errorf("retention: got %s and %s, want 7 days", got.Retention, b.store.Retention(acme.TenantID))
	}
	if r := bounds.Effective(b.store.Retention(other.TenantID)); r != 30*day {
		t.Errorf("the other tenant's retention: got %s, want the default", r)
	}
}
