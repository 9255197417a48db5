package tenant

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/signing"
)

// Buckets of the tenant view.
var (
	bucketTenants = []byte("tenants") // tenant id -> tenantRecord
	bucketKeys    = []byte("apikeys") // key id -> keyRecord
)

type tenantRecord struct {
	Name      string        `json:"name"`
	CreatedAt time.Time     `json:"createdAt"`
	Secrets   []secretEntry `json:"secrets"` // newest first
	KeyIDs    []string      `json:"keyIds"`
	Limits    Limits        `json:"limits"`
	// Retention is how long the tenant's finished tasks stay in the view;
	// zero: the server's default.
	Retention time.Duration `json:"retention,omitempty"`
	// Operator holds what the operator set: suspension, quota (operator.go).
	Operator operatorState `json:"operator,omitzero"`

	open []signing.Secret // Secrets opened, in the cache only
}

type keyRecord struct {
	TenantID string `json:"tenantId"`
	Hash     []byte `json:"hash"`
	Key
}

// Store is the tenant view: it applies tenant events (it is the Applier of
// the tenant stream) and answers authentication and secret look-ups.
type Store struct {
	db      *bolt.DB
	now     func() time.Time
	catchUp func(context.Context) error

	// secretKeys seal and open the signing secrets.
	secretKeys *secretbox.Keyring

	// Caches of decoded records, dropped when the projector applies an
	// event that touches them: authentication and signing read them on
	// every request and every attempt. gen counts those drops: a record
	// read before one is not cached after it, since it may be stale.
	mu      sync.RWMutex
	gen     uint64
	tenants map[string]*tenantRecord
	keys    map[string]*keyRecord

	// beforeFill, when set, runs between a cache miss's read and its fill:
	// tests use it to apply an event exactly there.
	beforeFill func()

	sessions sessionWatch // wakes what waits for sessions to end
}

// OnMiss sets how the store catches up with the tenant stream when a key is
// unknown: it may have been created on another node a moment ago.
func (s *Store) OnMiss(catchUp func(context.Context) error) { s.catchUp = catchUp }

// missWait bounds the wait for the view on an unknown key.
const missWait = time.Second

// catchUpOnMiss waits, within missWait, for the view to apply everything
// the tenant stream holds, after a look-up found nothing; ErrViewBehind
// when it cannot.
func (s *Store) catchUpOnMiss(ctx context.Context) error {
	wctx, cancel := context.WithTimeout(ctx, missWait)
	defer cancel()
	if err := s.catchUp(wctx); err != nil {
		return fmt.Errorf("%w: %w", ErrViewBehind, err)
	}
	return nil
}

// NewStore returns the tenant view in db; secretKeys seal and open the
// signing secrets, now is the clock (nil: time.Now).
func NewStore(db *bolt.DB, secretKeys *secretbox.Keyring, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now, secretKeys: secretKeys, tenants: map[string]*tenantRecord{}, keys: map[string]*keyRecord{}}
}

// Authenticate returns who apiKey belongs to, or ErrUnauthorized for a
// malformed, unknown or revoked key. The key's hash is compared in constant
// time. An unknown key id makes it wait, bounded, for the view to catch up,
// then fail without a comparison: ids are no secret (the dashboard and the
// admin API list them), so their existence needs no timing cover. When the
// view cannot catch up (the NATS servers unreachable, a leader being
// elected) it fails with ErrViewBehind, not ErrUnauthorized: the key may
// be one made on another node, and a client told its valid key is wrong
// may give up on it.
func (s *Store) Authenticate(ctx context.Context, apiKey string) (Principal, error) {
	id, ok := parseAPIKey(apiKey)
	if !ok {
		return Principal{}, ErrUnauthorized
	}
	rec, found, err := s.lookupKey(id)
	if err == nil && !found && s.catchUp != nil {
		if err := s.catchUpOnMiss(ctx); err != nil {
			return Principal{}, err
		}
		rec, found, err = s.lookupKey(id)
	}
	if err != nil || !found {
		return Principal{}, ErrUnauthorized
	}
	if subtle.ConstantTimeCompare(hashKey(apiKey), rec.Hash) != 1 || rec.RevokedAt != nil {
		return Principal{}, ErrUnauthorized
	}
	return Principal{TenantID: rec.TenantID, KeyID: rec.ID, Scopes: effectiveScopes(rec.Scopes)}, nil
}

// fill caches a record read at generation gen, unless a drop came since:
// the record may predate that event.
func (s *Store) fill(gen uint64, put func()) {
	if s.beforeFill != nil {
		s.beforeFill()
	}
	s.mu.Lock()
	if s.gen == gen {
		put()
	}
	s.mu.Unlock()
}

// lookupKey returns the key's record, from the cache when it can.
func (s *Store) lookupKey(id string) (keyRecord, bool, error) {
	s.mu.RLock()
	cached, ok := s.keys[id]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return *cached, true, nil
	}
	var rec keyRecord
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKeys)
		if b == nil {
			return nil
		}
		if data := b.Get([]byte(id)); data != nil {
			found = true
			return json.Unmarshal(data, &rec)
		}
		return nil
	})
	if found && err == nil {
		s.fill(gen, func() { s.keys[id] = &rec })
	}
	return rec, found, err
}

// tenantRecord returns the tenant's record, from the cache when it can.
func (s *Store) tenantRecord(tenantID string) (*tenantRecord, error) {
	s.mu.RLock()
	rec, ok := s.tenants[tenantID]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return rec, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getTenant(tx, tenantID)
		return err
	})
	if err == nil {
		err = s.openSecrets(tenantID, rec)
	}
	if err != nil {
		return nil, err
	}
	s.fill(gen, func() { s.tenants[tenantID] = rec })
	return rec, nil
}

// Limits returns the tenant's limit overrides; zero fields keep the
// defaults. An unknown tenant has none.
func (s *Store) Limits(tenantID string) Limits {
	rec, err := s.tenantRecord(tenantID)
	if err != nil {
		return Limits{}
	}
	return rec.Limits
}

// KeyActive reports whether the tenant's key exists and is not revoked.
func (s *Store) KeyActive(tenantID, keyID string) bool {
	rec, found, err := s.lookupKey(keyID)
	return err == nil && found && rec.TenantID == tenantID && rec.RevokedAt == nil
}

// Get returns the tenant with its keys, or ErrNotFound.
func (s *Store) Get(tenantID string) (*Tenant, error) {
	var t *Tenant
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := getTenant(tx, tenantID)
		if err != nil {
			return err
		}
		t = &Tenant{ID: tenantID, Name: rec.Name, CreatedAt: rec.CreatedAt, Keys: []Key{}, Limits: rec.Limits, Retention: rec.Retention}
		keys := tx.Bucket(bucketKeys)
		for _, id := range rec.KeyIDs {
			var k keyRecord
			if err := json.Unmarshal(keys.Get([]byte(id)), &k); err != nil {
				return err
			}
			k.Scopes = effectiveScopes(k.Scopes)
			t.Keys = append(t.Keys, k.Key)
		}
		return nil
	})
	return t, err
}

// SigningSecrets returns the secrets the tenant's messages are signed with,
// newest first: the current one, and a rotated-out one until it expires.
func (s *Store) SigningSecrets(tenantID string) ([]signing.Secret, error) {
	rec, err := s.tenantRecord(tenantID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]signing.Secret, 0, len(rec.Secrets))
	for i, e := range rec.Secrets {
		if e.ExpiresAt == nil || now.Before(*e.ExpiresAt) {
			out = append(out, rec.open[i])
		}
	}
	return out, nil
}

func getTenant(tx *bolt.Tx, tenantID string) (*tenantRecord, error) {
	b := tx.Bucket(bucketTenants)
	if b == nil {
		return nil, ErrNotFound
	}
	data := b.Get([]byte(tenantID))
	if data == nil {
		return nil, ErrNotFound
	}
	var rec tenantRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// Apply implements the projector's Applier for the tenant stream. A
// malformed event (a subject or payload that does not decode, an unknown
// kind, a key without an id) is skipped and marked with Skip, so that the
// projector logs and counts it; an error writing the view is returned, and
// the projector retries the batch.
func (s *Store) Apply(tx *bolt.Tx, msgs []jetstream.Msg) (func(), error) {
	tenants, err := tx.CreateBucketIfNotExists(bucketTenants)
	if err != nil {
		return nil, err
	}
	keys, err := tx.CreateBucketIfNotExists(bucketKeys)
	if err != nil {
		return nil, err
	}
	changedTenants, changedKeys := map[string]bool{}, map[string]bool{}
	sessionsChanged := false
	copies, err := newCopyFilter(tx)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if skip, err := copies.skip(m); skip || err != nil {
			if err != nil {
				return nil, err
			}
			continue // a copy of an event this view has applied (see copies.go)
		}
		parts := strings.Split(m.Subject(), ".")
		if len(parts) == 4 && parts[0] == "tenant" && parts[2] == kindLinkUsed {
			continue // a used sign-in link: only the stream needs it
		}
		if len(parts) != 3 || parts[0] != "tenant" || parts[1] == "" {
			skip(m, "not a tenant subject")
			continue
		}
		if ok, err := applySessionEvent(tx, parts[1], parts[2], m.Data()); ok || err != nil {
			if err != nil {
				return nil, err
			}
			sessionsChanged = true
			continue
		}
		if ok, err := applyOperator(tx, tenants, keys, m, parts, changedTenants, changedKeys); ok || err != nil {
			if err != nil {
				return nil, err
			}
			sessionsChanged = sessionsChanged || parts[2] == kindDeleted
			continue
		}
		sessionsChanged = sessionsChanged || parts[2] == kindKeyRevoked
		keyID, err := applyEvent(tenants, keys, parts[1], parts[2], m.Data())
		if errors.Is(err, errMalformed) {
			skip(m, err.Error())
			continue
		}
		if err != nil {
			return nil, err
		}
		changedTenants[parts[1]] = true
		if keyID != "" {
			changedKeys[keyID] = true
		}
	}
	return func() {
		if sessionsChanged {
			defer s.sessions.wake() // after the caches are dropped
		}
		s.mu.Lock()
		s.gen++
		for id := range changedTenants {
			delete(s.tenants, id)
		}
		for id := range changedKeys {
			delete(s.keys, id)
		}
		s.mu.Unlock()
	}, nil
}

// errMalformed marks an event the view cannot use: it is skipped, not
// retried. Every other error of applying is a failure to write the view.
var errMalformed = errors.New("malformed event")

// skipper is what the projector's messages offer (projector.Skipper).
type skipper interface{ Skip(reason string) }

func skip(m jetstream.Msg, reason string) {
	if s, ok := m.(skipper); ok {
		s.Skip(reason)
	}
}

// applyEvent applies one tenant event and returns the id of the key it
// touched, if any.
func applyEvent(tenants, keys *bolt.Bucket, tenantID, kind string, data []byte) (string, error) {
	var ev event
	if json.Unmarshal(data, &ev) != nil {
		return "", fmt.Errorf("%w: a %s event that does not decode", errMalformed, kind)
	}
	if ev.Key != nil && ev.Key.ID == "" {
		return "", fmt.Errorf("%w: a key without an id", errMalformed)
	}
	keyID := ev.KeyID
	if ev.Key != nil {
		keyID = ev.Key.ID
	}
	return keyID, applyDecoded(tenants, keys, tenantID, kind, ev)
}

func applyDecoded(tenants, keys *bolt.Bucket, tenantID, kind string, ev event) error {
	var rec tenantRecord
	existing := tenants.Get([]byte(tenantID))
	if existing != nil {
		if err := json.Unmarshal(existing, &rec); err != nil {
			return fmt.Errorf("the view's record of tenant %s: %w", tenantID, err)
		}
	}
	switch kind {
	case kindCreated:
		if existing != nil || ev.Key == nil {
			return nil
		}
		rec = tenantRecord{Name: ev.Name, CreatedAt: ev.At, Secrets: []secretEntry{{Sealed: ev.Sealed, Secret: ev.Secret}}}
		fallthrough
	case kindKeyCreated:
		if ev.Key == nil || (existing == nil && kind != kindCreated) {
			return nil
		}
		k := keyRecord{TenantID: tenantID, Hash: ev.Key.Hash, Key: Key{ID: ev.Key.ID, Name: ev.Key.Name, Prefix: ev.Key.Prefix,
			CreatedAt: ev.At, Scopes: ev.Key.Scopes}} // as recorded: a scope this version does not know grants nothing
		if err := putJSON(keys, []byte(k.ID), &k); err != nil {
			return err
		}
		rec.KeyIDs = append(rec.KeyIDs, k.ID)
	case kindKeyUsed:
		return updateKey(keys, tenantID, ev.KeyID, func(k *keyRecord) {
			at := ev.At
			k.LastUsedAt = &at
		})
	case kindKeyRevoked:
		return updateKey(keys, tenantID, ev.KeyID, func(k *keyRecord) {
			if k.RevokedAt == nil {
				at := ev.At
				k.RevokedAt = &at
			}
		})
	case kindLimitsUpdated:
		if existing == nil || ev.Limits == nil {
			return nil
		}
		rec.Limits = *ev.Limits
	case kindRetentionSet:
		if existing == nil || ev.Retention <= 0 {
			return nil
		}
		rec.Retention = ev.Retention
	case kindSecretRotated:
		if existing == nil {
			return nil
		}
		old := rec.Secrets
		if len(old) > 0 {
			expires := ev.At.Add(ev.Overlap)
			old = []secretEntry{{Sealed: old[0].Sealed, Secret: old[0].Secret, ExpiresAt: &expires}}
		}
		rec.Secrets = append([]secretEntry{{Sealed: ev.Sealed, Secret: ev.Secret}}, old...)
	default:
		return fmt.Errorf("%w: unknown kind %q", errMalformed, kind)
	}
	return putJSON(tenants, []byte(tenantID), &rec)
}

// updateKey changes the tenant's key record in place; a key that is
// missing or belongs to another tenant is left alone.
func updateKey(keys *bolt.Bucket, tenantID, keyID string, change func(*keyRecord)) error {
	data := keys.Get([]byte(keyID))
	if data == nil {
		return nil
	}
	var k keyRecord
	if err := json.Unmarshal(data, &k); err != nil || k.TenantID != tenantID {
		return err
	}
	change(&k)
	return putJSON(keys, []byte(k.ID), &k)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}
