package tenant

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
	return Principal{TenantID: claims.Tenant, TaskID: claims.Subject, ExpiresAt: claims.ExpiresAt.Time}, nil
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

// Audiences of the dashboard's tokens.
const (
	AudienceSession = "dashboard"
	AudienceSignIn  = "signin"
)

// Lifetimes of the dashboard's tokens.
const (
	SessionTTL    = time.Hour
	SignInLinkTTL = 15 * time.Minute
)

// sessionClaims are a dashboard session's claims: the tenant, the API key
// it signed in with (empty for a sign-in link), and a random id.
type sessionClaims struct {
	Tenant string `json:"tid"`
	KeyID  string `json:"kid,omitempty"`
	jwt.RegisteredClaims
}

// Session is a signed-in dashboard user.
type Session struct {
	Principal
	ID        string // the token's jti: CSRF tokens derive from it
	ExpiresAt time.Time
}

// IssueSession returns a session token for p, valid for SessionTTL.
func (t *Tokens) IssueSession(p Principal) (string, Session, error) {
	return t.issue(AudienceSession, SessionTTL, p.TenantID, p.KeyID)
}

// IssueSignInLink returns a token for a one-time sign-in link, valid for
// SignInLinkTTL.
func (t *Tokens) IssueSignInLink(tenantID string) (string, Session, error) {
	return t.issue(AudienceSignIn, SignInLinkTTL, tenantID, "")
}

func (t *Tokens) issue(audience string, ttl time.Duration, tenantID, keyID string) (string, Session, error) {
	now := t.now()
	exp := now.Add(ttl)
	s := Session{Principal: Principal{TenantID: tenantID, KeyID: keyID, ExpiresAt: exp}, ID: randomToken(16), ExpiresAt: exp}
	claims := sessionClaims{Tenant: tenantID, KeyID: keyID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: tokenIssuer, Audience: jwt.ClaimStrings{audience}, ID: s.ID,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(s.ExpiresAt),
	}}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.key)
	if err != nil {
		return "", Session{}, fmt.Errorf("tenant: sign token: %w", err)
	}
	return signed, s, nil
}

// ParseSession checks a session token; ErrUnauthorized when it is not a
// valid, unexpired session.
func (t *Tokens) ParseSession(token string) (Session, error) {
	return t.parse(token, AudienceSession)
}

// ParseSignInLink checks a sign-in link's token; the caller must make sure
// each link is used once (its Session.ID).
func (t *Tokens) ParseSignInLink(token string) (Session, error) {
	return t.parse(token, AudienceSignIn)
}

func (t *Tokens) parse(token, audience string) (Session, error) {
	var claims sessionClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(t.now),
	)
	parsed, err := parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.key, nil })
	if err != nil || !parsed.Valid || claims.Tenant == "" || claims.ID == "" || claims.ExpiresAt == nil {
		return Session{}, ErrUnauthorized
	}
	exp := claims.ExpiresAt.Time
	return Session{Principal: Principal{TenantID: claims.Tenant, KeyID: claims.KeyID, ExpiresAt: exp}, ID: claims.ID, ExpiresAt: exp}, nil
}

// CSRFToken returns the CSRF token of a session: an HMAC of its id, so it
// needs no storage and dies with the session.
func (t *Tokens) CSRFToken(sessionID string) string {
	mac := hmac.New(sha256.New, t.key)
	mac.Write([]byte("csrf\x00" + sessionID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckCSRF reports, in constant time, whether token is the session's CSRF
// token.
func (t *Tokens) CheckCSRF(sessionID, token string) bool {
	return token != "" && hmac.Equal([]byte(t.CSRFToken(sessionID)), []byte(token))
}
