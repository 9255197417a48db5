package api_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/tenant"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

type apiKey struct {
	ID         string
	Name       string
	Scopes     []string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	APIKey     string
}

func createKey(t *testing.T, c *testenv.Client, body map[string]any) apiKey {
	t.Helper()
	r := c.Do(t, http.MethodPost, "/v1/keys", body)
	if r.Status != http.StatusCreated || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create key %v: got %d %s", body, r.Status, r.Body)
	}
	var k apiKey
	r.JSON(t, &k)
	return k
}

// wantScopeProblem checks a 403 insufficient-scope that names scope.
func wantScopeProblem(t *testing.T, what string, r testenv.Response, scope string) {
	t.Helper()
	var p struct{ Type, Scope string }
	r.JSON(t, &p)
	if r.Status != http.StatusForbidden || p.Type != "https://boomerang.dev/problems/insufficient-scope" || p.Scope != scope {
		t.Errorf("%s: got %d %s, want 403 insufficient-scope naming %s", what, r.Status, r.Body, scope)
	}
}

// TestKeysAPI: GET/POST /v1/keys and DELETE /v1/keys/{id} list, make and
// revoke keys with scopes. A key does only what its scopes allow (403
// naming the scope it lacks), gives only scopes it has, and its last use
// shows in the list; a revoked key stops working.
func TestKeysAPI(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	admin, _ := env.Tenant(t, "acme")
	var list struct{ Items []apiKey }
	admin.Do(t, http.MethodGet, "/v1/keys", nil).JSON(t, &list)
	if len(list.Items) != 1 || len(list.Items[0].Scopes) != len(tenant.AllScopes()) {
		t.Fatalf("a new tenant's keys: got %+v, want one with every scope", list.Items)
	}
	reader := createKey(t, admin, map[string]any{"name": "dashboards", "scopes": []string{"tasks:read"}})
	if !strings.HasPrefix(reader.APIKey, "bk_") || reader.Name != "dashboards" || len(reader.Scopes) != 1 {
		t.Fatalf("new key: got %+v", reader)
	}
	rc := env.Client(t, reader.APIKey)
	if r := rc.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("reader lists: got %d %s", r.Status, r.Body)
	}
	before := env.TaskLastSeq(t)
	wantScopeProblem(t, "reader creates a task", rc.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "https://example.com/"}), "tasks:write")
	wantScopeProblem(t, "reader redelivers", rc.Do(t, http.MethodPost, "/v1/webhooks/redeliver", map[string]any{}), "webhooks:write")
	wantScopeProblem(t, "reader rotates", rc.Do(t, http.MethodPost, "/v1/signing-secrets/rotate", nil), "secrets:admin")
	wantScopeProblem(t, "reader makes a key", rc.Do(t, http.MethodPost, "/v1/keys", map[string]any{"name": "x"}), "keys:admin")
	if env.TaskLastSeq(t) != before {
		t.Fatal("a refused request published")
	}

	// A key admin gives only what it has.
	keyAdmin := createKey(t, admin, map[string]any{"name": "ops", "scopes": []string{"keys:admin", "tasks:read"}})
	kc := env.Client(t, keyAdmin.APIKey)
	wantScopeProblem(t, "giving a scope it lacks", kc.Do(t, http.MethodPost, "/v1/keys", map[string]any{"name": "x", "scopes": []string{"tasks:read", "tasks:write"}}), "tasks:write")
	wantScopeProblem(t, "giving every scope", kc.Do(t, http.MethodPost, "/v1/keys", map[string]any{"name": "x"}), "tasks:write")
	createKey(t, kc, map[string]any{"name": "read-only", "scopes": []string{"tasks:read"}})

	for _, bad := range []map[string]any{{"scopes": []string{"tasks:read"}}, {"name": " "}, {"name": strings.Repeat("n", 61)},
		{"name": "x", "scopes": []string{}}, {"name": "x", "scopes": []string{"tasks:delete"}}, {"name": "x", "scope": "tasks:read"}} {
		if r := admin.Do(t, http.MethodPost, "/v1/keys", bad); r.Status != http.StatusBadRequest {
			t.Errorf("create key %v: got %d %s, want 400", bad, r.Status, r.Body)
		}
	}

	// The reader's use shows, coarsely, in the list.
	testenv.WaitUntil(t, "the reader's last use in the list", func() (bool, string) {
		admin.Do(t, http.MethodGet, "/v1/keys", nil).JSON(t, &list)
		k := findKey(list.Items, reader.ID)
		return k != nil && k.LastUsedAt != nil, fmt.Sprintf("%+v", list.Items)
	})

	// Revoking: 204, then the key is refused; again 204; unknown 404.
	for i := range 2 {
		if r := admin.Do(t, http.MethodDelete, "/v1/keys/"+reader.ID, nil); r.Status != http.StatusNoContent {
			t.Fatalf("revoke #%d: got %d %s, want 204", i+1, r.Status, r.Body)
		}
	}
	if r := rc.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("revoked key: got %d, want 401", r.Status)
	}
	if r := admin.Do(t, http.MethodDelete, "/v1/keys/abcdefghijklmnop", nil); r.Status != http.StatusNotFound {
		t.Fatalf("unknown key: got %d %s, want 404", r.Status, r.Body)
	}
	admin.Do(t, http.MethodGet, "/v1/keys", nil).JSON(t, &list)
	if k := findKey(list.Items, reader.ID); k == nil || k.RevokedAt == nil {
		t.Fatalf("the list after revoking: got %+v", k)
	}
}

func findKey(keys []apiKey, id string) *apiKey {
	for i := range keys {
		if keys[i].ID == id {
			return &keys[i]
		}
	}
	return nil
}

// TestScopedKeyCannotSignInToTheDashboard: the dashboard does everything,
// so only a key with every scope opens a session there.
func TestScopedKeyCannotSignInToTheDashboard(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	admin, _ := env.Tenant(t, "acme")
	reader := createKey(t, admin, map[string]any{"name": "ro", "scopes": []string{"tasks:read"}})
	resp, err := http.PostForm(env.URL+"/signin", url.Values{"apiKey": {reader.APIKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Fatalf("sign-in with a scoped key: got %d with %d cookies, want 403 and no session", resp.StatusCode, len(resp.Cookies()))
	}
}

// TestRotateSigningSecretAPI: POST /v1/signing-secrets/rotate makes a new
// secret that signs beside the old one for the overlap asked for (a day
// without a body); an overlap out of bounds is a 400 that changes nothing.
func TestRotateSigningSecretAPI(t *testing.T) {
	t.Parallel()
	clock := webtest.NewClock(time.Now().UTC())
	env := webtest.Start(t, webtest.Options{Now: clock.Now})
	client, creds := env.Tenant(t, "acme")
	for _, bad := range []map[string]any{{"overlap": -1}, {"overlap": 604801}, {"overlap": "1h"}, {"overlapSeconds": 60}} {
		if r := client.Do(t, http.MethodPost, "/v1/signing-secrets/rotate", bad); r.Status != http.StatusBadRequest {
			t.Errorf("%v: got %d %s, want 400", bad, r.Status, r.Body)
		}
	}
	if s, _ := env.Tenants.SigningSecrets(creds.TenantID); len(s) != 1 || s[0].String() != creds.SigningSecret {
		t.Fatal("a refused rotation changed the secrets")
	}
	var rotated struct {
		SigningSecret           string
		PreviousSecretExpiresAt time.Time
	}
	start := clock.Now()
	r := client.Do(t, http.MethodPost, "/v1/signing-secrets/rotate", map[string]any{"overlap": 3600})
	if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("rotate: got %d %s", r.Status, r.Body)
	}
	r.JSON(t, &rotated)
	secrets, _ := env.Tenants.SigningSecrets(creds.TenantID)
	if len(secrets) != 2 || secrets[0].String() != rotated.SigningSecret || secrets[1].String() != creds.SigningSecret {
		t.Fatalf("after rotating: got %d secrets, want the new one then the old", len(secrets))
	}
	if !rotated.PreviousSecretExpiresAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("previous secret expires %v, want an hour after %v", rotated.PreviousSecretExpiresAt, start)
	}
	r = client.Do(t, http.MethodPost, "/v1/signing-secrets/rotate", nil)
	r.JSON(t, &rotated)
	if r.Status != http.StatusOK || !rotated.PreviousSecretExpiresAt.Equal(start.Add(24*time.Hour)) {
		t.Fatalf("rotate without a body: got %d, previous expires %v, want a day after %v", r.Status, rotated.PreviousSecretExpiresAt, start)
	}
}
