package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Scope is something an API key may do.
type Scope string

// The scopes a key may carry. A key without scopes named has them all.
const (
	ScopeTasksRead     Scope = "tasks:read"     // read, list and stream tasks
	ScopeTasksWrite    Scope = "tasks:write"    // create, cancel and replay tasks
	ScopeWebhooksWrite Scope = "webhooks:write" // redeliver webhooks
	ScopeKeysAdmin     Scope = "keys:admin"     // list, create and revoke keys
	ScopeSecretsAdmin  Scope = "secrets:admin"  // rotate the signing secret
)

// Key describes an API key, without its secret part.
type Key struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Prefix string  `json:"prefix"`
	Scopes []Scope `json:"scopes"`
	// CreatedAt is when it was made; LastUsedAt when it last
	// authenticated a request (recorded at most once an hour per server
	// node); RevokedAt when it was revoked.
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
}

// NewKey is a key just made: its description and the key itself, which
// is shown only once.
type NewKey struct {
	Key
	APIKey string `json:"apiKey"`
}

// ListKeys returns the tenant's keys, revoked ones included, oldest first.
func (c *Client) ListKeys(ctx context.Context) ([]Key, error) {
	var list struct {
		Items []Key `json:"items"`
	}
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/keys"}, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// CreateKey makes an API key named name with the scopes given, or every
// scope when none is. A key can only give scopes it has.
func (c *Client) CreateKey(ctx context.Context, name string, scopes ...Scope) (*NewKey, error) {
	body := struct {
		Name   string  `json:"name"`
		Scopes []Scope `json:"scopes,omitempty"`
	}{name, scopes}
	var k NewKey
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/keys", body: &body}, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// RevokeKey revokes the key with this id (Key.ID, not the key); it stops
// working at once. Revoking a revoked key is not an error.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: "/v1/keys/" + url.PathEscape(id)}, nil)
	return err
}

// SigningSecret is a new signing secret.
type SigningSecret struct {
	// Secret is the new secret, whsec_…, shown only once.
	Secret string `json:"signingSecret"`
	// PreviousExpiresAt is when the previous secret stops signing.
	PreviousExpiresAt time.Time `json:"previousSecretExpiresAt"`
}

// RotateSigningSecret makes a new signing secret, which signs from now
// on; the previous one keeps signing beside it for overlap (at most seven
// days), so that receivers can switch without missing a message.
func (c *Client) RotateSigningSecret(ctx context.Context, overlap time.Duration) (*SigningSecret, error) {
	body := struct {
		Overlap int `json:"overlap"`
	}{int(overlap / time.Second)}
	var s SigningSecret
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/v1/signing-secrets/rotate", body: &body}, &s); err != nil {
		return nil, err
	}
	return &s, nil
}
