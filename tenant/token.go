package tenant

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// Token audiences: what a token may be used for.
const (
	AudienceTaskStatus = "task-status"
	tokenIssuer        = "boomerang"
	configBucket       = "boomerang-config"
	tokenKeyName       = "token-signing-key"
)

// DefaultStatusTokenTTL is how long a status token is valid by default.
const DefaultStatusTokenTTL = 24 * time.Hour

// taskClaims are a status token's claims: the tenant, and the task as the
// subject.
type taskClaims struct {
	Tenant string `json:"tid"`
	jwt.RegisteredClaims
}

// Tokens issues and checks the JWTs Boomerang hands out. The algorithm is
// pinned to HS256 with a key every node shares.
type Tokens struct {
	key    []byte
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser
}

// NewTokens returns a token issuer with key; ttl is a status token's life
// (DefaultStatusTokenTTL when zero), now the clock (nil: time.Now).
func NewTokens(key []byte, ttl time.Duration, now func() time.Time) *Tokens {
	if ttl <= 0 {
		ttl = DefaultStatusTokenTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{key: key, ttl: ttl, now: now, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(AudienceTaskStatus),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
	)}
}

// IssueTaskToken returns a token that reads one task's status, result and
// events, and nothing else, until it expires.
func (t *Tokens) IssueTaskToken(tenantID, taskID string) (string, time.Time, error) {
	now := t.now()
	exp := now.Add(t.ttl)
	claims := taskClaims{Tenant: tenantID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: tokenIssuer, Subject: taskID, Audience: jwt.ClaimStrings{AudienceTaskStatus},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("tenant: sign token: %w", err)
	}
	return signed, exp, nil
}

// ParseTaskToken checks a status token and returns the principal it grants:
// the tenant, restricted to one task. It returns ErrUnauthorized for a token
// that is malformed, signed otherwise, of another audience, or expired.
func (t *Tokens) ParseTaskToken(token string) (Principal, error) {
	var claims taskClaims
	parsed, err := t.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil || !parsed.Valid || claims.Tenant == "" || claims.Subject == "" {
		return Principal{}, ErrUnauthorized
	}
	return Principal{TenantID: claims.Tenant, TaskID: claims.Subject}, nil
}

// LoadTokenKey returns the key every node signs tokens with, creating it in
// a JetStream key-value bucket on first use; concurrent first starts agree
// on one key.
func LoadTokenKey(ctx context.Context, js jetstream.JetStream, replicas int) ([]byte, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: configBucket, Description: "Boomerang cluster configuration", Storage: jetstream.FileStorage, Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("tenant: config bucket: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if _, err := kv.Create(ctx, tokenKeyName, key); err == nil {
		return key, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("tenant: store token key: %w", err)
	}
	entry, err := kv.Get(ctx, tokenKeyName)
	if err != nil {
		return nil, fmt.Errorf("tenant: load token key: %w", err)
	}
	return entry.Value(), nil
}
