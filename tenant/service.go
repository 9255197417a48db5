package tenant

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/signing"
)

// Stream is the JetStream stream of tenant events, tenant.<tenant>.<kind>.
// It has no age limit: tenants and keys live until they are removed.
const Stream = "BOOMERANG_TENANTS"

// Event kinds.
const (
	kindCreated       = "created"
	kindKeyCreated    = "key_created"
	kindKeyRevoked    = "key_revoked"
	kindSecretRotated = "secret_rotated"
	kindKeyUsed       = "key_used"
	kindLimitsUpdated = "limits_updated"
	kindRetentionSet  = "retention_set"
)

// keyUsedEvery is how often a key's use is recorded: often enough for a
// "last used" column, rarely enough to cost nothing.
const keyUsedEvery = time.Hour

// event is the payload of every tenant event; each kind uses some fields.
type event struct {
	At      time.Time      `json:"at"`
	Name    string         `json:"name,omitempty"`
	Secret  signing.Secret `json:"secret,omitempty"` // before secrets were sealed: Reseal replaces it
	Sealed  string         `json:"sealedSecret,omitempty"`
	Overlap time.Duration  `json:"overlap,omitempty"`
	Key     *keyEvent      `json:"key,omitempty"`
	KeyID   string         `json:"keyId,omitempty"`
	Limits  *Limits        `json:"limits,omitempty"`
	// Retention is retention_set's: how long finished tasks stay.
	Retention time.Duration `json:"retention,omitempty"`
}

// keyEvent is a new key as the stream records it: the hash, never the key.
// Scopes is absent for a key with every scope (and in events written
// before scopes existed).
type keyEvent struct {
	ID     string  `json:"id"`
	Name   string  `json:"name"`
	Prefix string  `json:"prefix"`
	Hash   []byte  `json:"hash"`
	Scopes []Scope `json:"scopes,omitempty"`
}

// StreamConfig returns the configuration of the tenant stream.
func StreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "Boomerang tenants, API keys and signing secrets",
		Subjects:    []string{"tenant.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		// Records of ended sessions and used sign-in links expire.
		AllowMsgTTL: true,
	}
}

// Waiter waits until the view has applied a stream sequence.
type Waiter interface {
	WaitFor(ctx context.Context, seq uint64) error
}

// Service makes tenant changes: one publish each, then a wait until this
// node's view has applied it, so the caller can use the result at once.
type Service struct {
	js    jetstream.JetStream
	store *Store
	view  Waiter
	now   func() time.Time

	mu       sync.Mutex
	keysUsed map[string]time.Time // key id -> last recorded by this node
}

// NewService returns the tenant service. view is the tenant projector.
func NewService(js jetstream.JetStream, store *Store, view Waiter, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{js: js, store: store, view: view, now: now, keysUsed: map[string]time.Time{}}
}

// Create creates a tenant with one API key and a signing secret and returns
// them; this is the only time the key is seen.
func (s *Service) Create(ctx context.Context, name string) (Credentials, error) {
	return s.CreateWithID(ctx, NewTenantID(), name)
}

// CreateWithID is Create with a chosen id. It returns ErrExists when a
// tenant with that id exists, on any node.
func (s *Service) CreateWithID(ctx context.Context, tenantID, name string) (Credentials, error) {
	secret, err := signing.NewSecret(rand.Reader)
	if err != nil {
		return Credentials{}, err
	}
	key, keyID := newAPIKey()
	ev := event{At: s.now().UTC(), Name: name, Sealed: sealSecret(s.store.secretKeys, tenantID, secret), Key: newKeyEvent(key, keyID, "default")}
	if err := s.publish(ctx, tenantID, kindCreated, ev, jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
		return Credentials{}, err
	}
	return Credentials{TenantID: tenantID, APIKey: key, SigningSecret: secret.String()}, nil
}

func newKeyEvent(key, keyID, name string) *keyEvent {
	return &keyEvent{ID: keyID, Name: name, Prefix: key[:len(keyPrefix)+6], Hash: hashKey(key)}
}

// CreateKey adds an API key to a tenant and returns it, shown only now.
// The key carries scopes (the caller checked them with Scope.Valid), or
// every scope when none is given.
func (s *Service) CreateKey(ctx context.Context, tenantID, name string, scopes ...Scope) (string, Key, error) {
	if _, err := s.store.Get(tenantID); err != nil {
		return "", Key{}, err
	}
	key, keyID := newAPIKey()
	ev := event{At: s.now().UTC(), Key: newKeyEvent(key, keyID, name)}
	ev.Key.Scopes = normalScopes(scopes)
	if err := s.publish(ctx, tenantID, kindKeyCreated, ev); err != nil {
		return "", Key{}, err
	}
	return key, Key{ID: keyID, Name: name, Prefix: ev.Key.Prefix, CreatedAt: ev.At, Scopes: effectiveScopes(ev.Key.Scopes)}, nil
}

// RevokeKey revokes one of the tenant's keys; it stops working on every node
// as soon as each has applied the event.
func (s *Service) RevokeKey(ctx context.Context, tenantID, keyID string) error {
	t, err := s.store.Get(tenantID)
	if err != nil {
		return err
	}
	for _, k := range t.Keys {
		if k.ID == keyID {
			return s.publish(ctx, tenantID, kindKeyRevoked, event{At: s.now().UTC(), KeyID: keyID})
		}
	}
	return ErrNotFound
}

// SetLimits replaces a tenant's limits (zero fields mean the defaults).
func (s *Service) SetLimits(ctx context.Context, tenantID string, l Limits) error {
	if _, err := s.store.Get(tenantID); err != nil {
		return err
	}
	return s.publish(ctx, tenantID, kindLimitsUpdated, event{At: s.now().UTC(), Limits: &l})
}

// TouchKey records that a key authenticated a request, at most once an hour
// per key and node, without waiting: a key's "last used" time.
func (s *Service) TouchKey(tenantID, keyID string) {
	now := s.now()
	s.mu.Lock()
	last, seen := s.keysUsed[keyID]
	if seen && now.Sub(last) < keyUsedEvery {
		s.mu.Unlock()
		return
	}
	s.keysUsed[keyID] = now
	s.mu.Unlock()
	data, _ := json.Marshal(event{At: now.UTC(), KeyID: keyID})
	_, _ = s.js.PublishMsgAsync(&nats.Msg{Subject: "tenant." + tenantID + "." + kindKeyUsed, Data: data})
}

// RotateSecret makes a new signing secret the current one and keeps signing
// with the old one as well for overlap. It returns the new secret.
func (s *Service) RotateSecret(ctx context.Context, tenantID string, overlap time.Duration) (signing.Secret, error) {
	if _, err := s.store.Get(tenantID); err != nil {
		return nil, err
	}
	secret, err := signing.NewSecret(rand.Reader)
	if err != nil {
		return nil, err
	}
	ev := event{At: s.now().UTC(), Sealed: sealSecret(s.store.secretKeys, tenantID, secret), Overlap: overlap}
	return secret, s.publish(ctx, tenantID, kindSecretRotated, ev)
}

func (s *Service) publish(ctx context.Context, tenantID, kind string, ev any, opts ...jetstream.PublishOpt) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("tenant: encode %s: %w", kind, err)
	}
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: "tenant." + tenantID + "." + kind, Data: data}, opts...)
	if err != nil {
		if wrongLastSequence(err) {
			return ErrExists
		}
		return fmt.Errorf("tenant: publish %s: %w", kind, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.view.WaitFor(wctx, ack.Sequence); err != nil {
		return fmt.Errorf("tenant: view did not apply %s: %w", kind, err)
	}
	return nil
}

// wrongLastSequence reports whether a publish was refused because its
// subject was not at the expected sequence: it exists already.
func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
