package tenant_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/tenant"
)

// An operator's session and a tenant's are different tokens: neither
// parses as the other, and an operator's names no tenant.
func TestOperatorSessionsAreNotTenantSessions(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tokens := newTokens(t, clk, tenant.WithSessionMaxAge(3*time.Hour))
	admin := tenant.NewAdminToken("the-admin-token")
	opToken, op, err := tokens.IssueOperatorSession(admin.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	tenantToken, _, err := tokens.IssueSession(tenant.Principal{TenantID: "ten_a", KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tokens.ParseOperatorSession(opToken)
	if err != nil || !got.Operator || got.TenantID != "" || got.KeyID != admin.Fingerprint() || got.ID != op.ID {
		t.Fatalf("operator session: got %+v, %v; want an operator session of the admin token", got, err)
	}
	if !got.EndsAt.Equal(clk.Now().Add(3 * time.Hour)) {
		t.Fatalf("operator session ends at %s, want the session maximum age after sign-in", got.EndsAt)
	}
	if _, err := tokens.ParseSession(opToken); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Fatalf("an operator token as a tenant session: got %v, want ErrUnauthorized", err)
	}
	if _, err := tokens.ParseOperatorSession(tenantToken); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Fatalf("a tenant token as an operator session: got %v, want ErrUnauthorized", err)
	}
	// Renewed, it stays an operator's session.
	clk.Add(40 * time.Minute)
	renewedToken, renewed, err := tokens.RenewSession(got)
	if err != nil || !renewed.Operator {
		t.Fatalf("renewal: %+v, %v", renewed, err)
	}
	if again, err := tokens.ParseOperatorSession(renewedToken); err != nil || again.ID != op.ID {
		t.Fatalf("renewed operator token: got %+v, %v", again, err)
	}
	clk.Add(3 * time.Hour)
	if _, err := tokens.ParseOperatorSession(renewedToken); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Fatalf("past its maximum age: got %v, want ErrUnauthorized", err)
	}
}

// Signing an operator out ends that session on the view, and no other;
// a tenant's session is never an active operator session.
func TestOperatorSignOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tokens := newTokens(t, b.clock)
	_, mine, _ := tokens.IssueOperatorSession("fp")
	_, kept, _ := tokens.IssueOperatorSession("fp")
	if !b.store.OperatorSessionActive(mine) || !b.store.OperatorSessionActive(kept) {
		t.Fatal("operator sessions inactive before any sign-out")
	}
	if err := b.service.EndOperatorSession(ctx, mine.ID, mine.EndsAt); err != nil {
		t.Fatal(err)
	}
	if b.store.OperatorSessionActive(mine) {
		t.Fatal("the signed-out operator session is still active")
	}
	if !b.store.OperatorSessionActive(kept) {
		t.Fatal("signing one operator out ended another's session")
	}
	_, tenantSess, _ := tokens.IssueSession(tenant.Principal{TenantID: "ten_a"})
	if b.store.OperatorSessionActive(tenantSess) {
		t.Fatal("a tenant's session counts as an operator's")
	}
}

func TestAdminTokenFingerprint(t *testing.T) {
	t.Parallel()
	a, b := tenant.NewAdminToken("one"), tenant.NewAdminToken("two")
	if a.Fingerprint() == "" || a.Fingerprint() == b.Fingerprint() || a.Fingerprint() != tenant.NewAdminToken("one").Fingerprint() {
		t.Fatalf("fingerprints %q and %q: want stable, distinct, non-empty", a.Fingerprint(), b.Fingerprint())
	}
	if tenant.NewAdminToken("").Fingerprint() != "" {
		t.Fatal("no admin token has a fingerprint")
	}
}
