package tenant

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/boomerang-dev/boomerang/signing"
)

// Errors returned by the tenant operations.
var (
	ErrUnauthorized = errors.New("tenant: invalid API key")
	ErrNotFound     = errors.New("tenant: not found")
	ErrExists       = errors.New("tenant: already exists")
	// ErrViewBehind: a credential this node does not know could not be
	// checked, because its tenant view could not catch up with the tenant
	// stream in time; it may have been made on another node. Unlike
	// ErrUnauthorized it says nothing about the credential: ask again.
	ErrViewBehind = errors.New("tenant: the tenant view could not catch up with the tenant stream")
)

// Tenant is a customer of the broker, as the view knows it.
type Tenant struct {
	ID        string    `json:"tenantId"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	Keys      []Key     `json:"keys"`
	Limits    Limits    `json:"limits"`
	// Retention is how long the tenant's finished tasks stay in the view,
	// as the tenant or the operator set it; zero: the server's default
	// (RetentionBounds.Default).
	Retention time.Duration `json:"-"`
}

// Limits are a tenant's overrides of the server's defaults; a zero field
// keeps the default.
type Limits struct {
	// CreateRate is the sustained rate of task creates per second, per node.
	CreateRate float64 `json:"createRate,omitempty"`
	// CreateBurst is how many creates may come at once above the rate.
	CreateBurst int `json:"createBurst,omitempty"`
	// MaxInFlight bounds the tenant's attempts running at once, per node.
	MaxInFlight int `json:"maxInFlight,omitempty"`
	// MaxPerHost bounds the tenant's attempts to one target host at once,
	// per node.
	MaxPerHost int `json:"maxPerHost,omitempty"`
}

// Key describes an API key without its secret part.
type Key struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix"` // the key's first characters, to recognise it
	CreatedAt time.Time  `json:"createdAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	// LastUsedAt is when the key last authenticated a request, recorded at
	// most once an hour per node.
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	// Scopes is what the key may do. The view records none for a key
	// with every scope; the store's reads fill them in.
	Scopes []Scope `json:"scopes,omitempty"`
}

// Credentials are the secrets of a new tenant, shown once.
type Credentials struct {
	TenantID      string `json:"tenantId"`
	APIKey        string `json:"apiKey"`
	SigningSecret string `json:"signingSecret"`
}

// Principal is who a request acts for: a tenant, through one of its API
// keys, or through a status token that may only read one task.
type Principal struct {
	TenantID string
	KeyID    string // the API key used; empty for a status token
	TaskID   string // the only task a status token may read; empty for a key
	// Scopes is what the API key used may do; none for a status token or
	// a dashboard session.
	Scopes []Scope
	// ExpiresAt is when the credential stops being valid: a status token's
	// or a session's expiry; zero for an API key, which lasts until revoked.
	ExpiresAt time.Time
}

const keyPrefix = "bk_"

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(enc.EncodeToString(b))
}

// NewTenantID returns a random tenant id, "ten_" and 16 characters.
func NewTenantID() string { return "ten_" + randomToken(10) }

// newAPIKey returns a key "bk_<id>_<secret>" and its id. The id finds the
// key's record; the whole key's hash proves it.
func newAPIKey() (key, id string) {
	id = randomToken(10)
	return keyPrefix + id + "_" + randomToken(20), id
}

// parseAPIKey returns the id in a key, or false when it is not one of ours.
func parseAPIKey(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 32 {
		return "", false
	}
	return id, true
}

func hashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// secretEntry is a signing secret and, for a rotated-out one, when it stops
// signing. The secret is sealed (see seal.go); Secret holds it in plain
// text only in a view written before secrets were sealed, until
// ResealView seals it.
type secretEntry struct {
	Sealed    string         `json:"sealed,omitempty"`
	Secret    signing.Secret `json:"secret,omitempty"`
	ExpiresAt *time.Time     `json:"expiresAt,omitempty"`
}
