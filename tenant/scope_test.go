package tenant_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/tenant"
)

// TestKeyScopes: a key made with scopes carries exactly those (in a fixed
// order, each once); the tenant's first key, and a key made without
// naming any, carry every scope; a key whose recorded scopes this version
// does not know (written by a newer one) is allowed nothing rather than
// everything.
func TestKeyScopes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	creds, err := b.service.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	reader, key, err := b.service.CreateKey(ctx, creds.TenantID, "reader", tenant.ScopeWebhooksWrite, tenant.ScopeTasksRead, tenant.ScopeTasksRead)
	if err != nil {
		t.Fatal(err)
	}
	want := []tenant.Scope{tenant.ScopeTasksRead, tenant.ScopeWebhooksWrite}
	if !slices.Equal(key.Scopes, want) {
		t.Fatalf("new key's scopes: got %v, want %v", key.Scopes, want)
	}
	all, _, err := b.service.CreateKey(ctx, creds.TenantID, "all")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, key string
		want      []tenant.Scope
	}{{"first key", creds.APIKey, tenant.AllScopes()}, {"scoped key", reader, want}, {"key without scopes", all, tenant.AllScopes()}} {
		p, err := b.store.Authenticate(ctx, tt.key)
		if err != nil || !slices.Equal(p.Scopes, tt.want) {
			t.Errorf("%s: got %v (%v), want %v", tt.name, p.Scopes, err, tt.want)
		}
	}
	got, err := b.store.Get(creds.TenantID)
	if err != nil || len(got.Keys) != 3 || !slices.Equal(got.Keys[1].Scopes, want) || !slices.Equal(got.Keys[0].Scopes, tenant.AllScopes()) {
		t.Fatalf("listed keys: got %+v (%v)", got.Keys, err)
	}

	// A key recorded with a scope from the future.
	future := "bk_abcdefghijklmnop_" + "abcdefghijklmnopqrstuvwxyz234567"
	sum := sha256.Sum256([]byte(future))
	data, _ := json.Marshal(map[string]any{"at": time.Now().UTC(), "key": map[string]any{
		"id": "abcdefghijklmnop", "name": "future", "prefix": future[:9], "hash": sum[:], "scopes": []string{"tasks:delete-everything"}}})
	if _, err := b.js.Publish(ctx, "tenant."+creds.TenantID+".key_created", data); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.service.CreateKey(ctx, creds.TenantID, "after"); err != nil { // waits for the view, past the event above
		t.Fatal(err)
	}
	p, err := b.store.Authenticate(ctx, future)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tenant.AllScopes() {
		if p.Allows(s) {
			t.Errorf("a key with an unknown scope is allowed %s", s)
		}
	}
}
