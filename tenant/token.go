package tenant

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	key           []byte
	ttl           time.Duration
	sessionMaxAge time.Duration
	now           func() time.Time
	parser        *jwt.Parser
}

// NewTokens returns a token issuer with key; ttl is a status token's life
// (DefaultStatusTokenTTL when zero), now the clock (nil: time.Now).
func NewTokens(key []byte, ttl time.Duration, now func() time.Time, opts ...TokenOption) *Tokens {
	if ttl <= 0 {
		ttl = DefaultStatusTokenTTL
	}
	if now == nil {
		now = time.Now
	}
	t := &Tokens{key: key, ttl: ttl, sessionMaxAge: DefaultSessionMaxAge, now: now, parser: jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(AudienceTaskStatus),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(now),
	)}
	for _, opt := range opts {
		opt(t)
	}
	return t
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

// Audiences of the dashboard's tokens.
const (
	AudienceSession = "dashboard"
	AudienceSignIn  = "signin"
	// AudienceOperator is an operator's dashboard session: it names no
	// tenant, and no tenant's session is one.
	AudienceOperator = "operator"
)

// Lifetimes of the dashboard's tokens. A session token lasts SessionTTL and
// is renewed while in use, but a session ends DefaultSessionMaxAge after
// its sign-in however often it was renewed (WithSessionMaxAge changes it).
const (
	SessionTTL           = time.Hour
	DefaultSessionMaxAge = 12 * time.Hour
	SignInLinkTTL        = 15 * time.Minute
)

// TokenOption changes how Tokens issues and checks tokens.
type TokenOption func(*Tokens)

// WithSessionMaxAge sets a session's absolute lifetime: how long after its
// sign-in it ends, however often it is renewed. Zero or less keeps
// DefaultSessionMaxAge.
func WithSessionMaxAge(d time.Duration) TokenOption {
	return func(t *Tokens) {
		if d > 0 {
			t.sessionMaxAge = d
		}
	}
}

// sessionClaims are the claims of a dashboard session and of a sign-in
// link: the tenant (none in an operator's session), the API key it signed in with (empty for a link), the
// session's id, which stays the same across renewals (sid), and when it
// signed in (sat, Unix milliseconds), which bounds its life. Every token
// has its own random jti.
type sessionClaims struct {
	Tenant     string `json:"tid,omitempty"`
	KeyID      string `json:"kid,omitempty"`
	SessionID  string `json:"sid"`
	SignedInAt int64  `json:"sat"`
	jwt.RegisteredClaims
}

// Session is a signed-in dashboard user, or a sign-in link.
type Session struct {
	Principal
	// ID names the session: the same in every renewal of it, so that
	// signing out ends them all; CSRF tokens derive from it. For a
	// sign-in link, the link's id.
	ID string
	// SignedInAt is when the session began (a link: when it was issued).
	SignedInAt time.Time
	// ExpiresAt is when this token expires; a renewal moves it on.
	ExpiresAt time.Time
	// EndsAt is when the session ends, however often it is renewed.
	EndsAt time.Time
	// Operator says this is an operator's session (AudienceOperator):
	// its Principal names no tenant; KeyID holds the fingerprint of the
	// admin token it signed in with (AdminToken.Fingerprint).
	Operator bool
}

// SessionMaxAge is how long a session lasts at most after its sign-in.
func (t *Tokens) SessionMaxAge() time.Duration { return t.sessionMaxAge }

// IssueSession returns the token of a new session for p, signed in now.
func (t *Tokens) IssueSession(p Principal) (string, Session, error) {
	now := time.UnixMilli(t.now().UnixMilli()) // as the token carries it
	return t.sign(AudienceSession, Session{Principal: p, ID: randomToken(16), SignedInAt: now, EndsAt: now.Add(t.sessionMaxAge)})
}

// RenewSession returns a fresh token of the same session: same id, same
// sign-in time, expiring SessionTTL from now but never after the session
// ends. It returns ErrUnauthorized once the session has ended.
func (t *Tokens) RenewSession(s Session) (string, Session, error) {
	if !t.now().Before(s.EndsAt) {
		return "", Session{}, ErrUnauthorized
	}
	if s.Operator {
		return t.sign(AudienceOperator, s)
	}
	return t.sign(AudienceSession, s)
}

// RenewDue reports whether a session's token is worth renewing: it expires
// within half of SessionTTL and a renewal would move its expiry on.
func (t *Tokens) RenewDue(s Session) bool {
	left := s.ExpiresAt.Sub(t.now())
	return left < SessionTTL/2 && s.EndsAt.Sub(s.ExpiresAt) > time.Second
}

// IssueSignInLink returns a token for a one-time sign-in link, valid for
// SignInLinkTTL.
func (t *Tokens) IssueSignInLink(tenantID string) (string, Session, error) {
	now := time.UnixMilli(t.now().UnixMilli())
	return t.sign(AudienceSignIn, Session{Principal: Principal{TenantID: tenantID}, ID: randomToken(16), SignedInAt: now, EndsAt: now.Add(SignInLinkTTL)})
}

// sign signs s as a token of audience, expiring after its audience's
// lifetime from now, but not after s ends.
func (t *Tokens) sign(audience string, s Session) (string, Session, error) {
	now := t.now()
	ttl := SessionTTL
	if audience == AudienceSignIn {
		ttl = SignInLinkTTL
	}
	expires := now.Add(ttl)
	if s.EndsAt.Before(expires) {
		expires = s.EndsAt
	}
	exp := jwt.NewNumericDate(expires)
	s.ExpiresAt = exp.Time
	s.Principal.ExpiresAt = s.ExpiresAt // a stream opened with it ends then
	claims := sessionClaims{Tenant: s.TenantID, KeyID: s.KeyID, SessionID: s.ID, SignedInAt: s.SignedInAt.UnixMilli(),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: tokenIssuer, Audience: jwt.ClaimStrings{audience}, ID: randomToken(16),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: exp,
		}}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.key)
	if err != nil {
		return "", Session{}, fmt.Errorf("tenant: sign token: %w", err)
	}
	return signed, s, nil
}

// IssueOperatorSession returns the token of a new operator session, signed
// in now with the admin token whose fingerprint is adminFingerprint. It
// lasts as long as a tenant's session, and is renewed the same way.
func (t *Tokens) IssueOperatorSession(adminFingerprint string) (string, Session, error) {
	now := time.UnixMilli(t.now().UnixMilli())
	return t.sign(AudienceOperator, Session{Principal: Principal{KeyID: adminFingerprint}, ID: randomToken(16), SignedInAt: now,
		EndsAt: now.Add(t.sessionMaxAge), Operator: true})
}

// ParseOperatorSession checks an operator session's token;
// ErrUnauthorized when it is not a valid, unexpired operator session (a
// tenant's session never is one), or it has outlived its maximum age.
func (t *Tokens) ParseOperatorSession(token string) (Session, error) {
	return t.parse(token, AudienceOperator, t.sessionMaxAge)
}

// ParseSession checks a session token; ErrUnauthorized when it is not a
// valid, unexpired session, or the session has outlived its maximum age.
func (t *Tokens) ParseSession(token string) (Session, error) {
	return t.parse(token, AudienceSession, t.sessionMaxAge)
}

// ParseSignInLink checks a sign-in link's token; the caller must make sure
// each link is used once (its Session.ID).
func (t *Tokens) ParseSignInLink(token string) (Session, error) {
	return t.parse(token, AudienceSignIn, SignInLinkTTL)
}

// parse checks a token of audience whose session lasts at most maxAge from
// its sign-in.
func (t *Tokens) parse(token, audience string, maxAge time.Duration) (Session, error) {
	var claims sessionClaims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(audience), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(t.now),
	)
	parsed, err := parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return t.key, nil })
	// An operator's token names no tenant; every other names one.
	if err != nil || !parsed.Valid || (claims.Tenant == "") != (audience == AudienceOperator) || claims.SessionID == "" || claims.ExpiresAt == nil ||
		claims.IssuedAt == nil || claims.SignedInAt <= 0 {
		return Session{}, ErrUnauthorized
	}
	s := Session{Principal: Principal{TenantID: claims.Tenant, KeyID: claims.KeyID, ExpiresAt: claims.ExpiresAt.Time}, ID: claims.SessionID,
		SignedInAt: time.UnixMilli(claims.SignedInAt), ExpiresAt: claims.ExpiresAt.Time, Operator: audience == AudienceOperator}
	s.EndsAt = s.SignedInAt.Add(maxAge)
	// A renewal keeps the sign-in time: a token issued before its session
	// began, or used after it ended, is not one of ours.
	if s.SignedInAt.After(claims.IssuedAt.Add(time.Second)) || !t.now().Before(s.EndsAt) {
		return Session{}, ErrUnauthorized
	}
	return s, nil
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
