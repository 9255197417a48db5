package tenant

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/signing"
)

// The tenants' signing secrets are sealed with the operator's keys
// (secretbox) in the stream's events and in the view: a copy of either
// alone signs nothing. The view opens them when it reads a record into its
// cache, so signing costs no decryption.

// secretPurpose binds a sealed signing secret to its tenant: a value copied
// to another tenant's event does not open.
func secretPurpose(tenantID string) string { return "tenant signing secret\x00" + tenantID }

// sealSecret seals a tenant's signing secret with the current key.
func sealSecret(keys *secretbox.Keyring, tenantID string, secret signing.Secret) string {
	return keys.Seal(secret, secretPurpose(tenantID))
}

// openSecret returns the secret of a view entry: sealed, or in plain text
// in a view written before secrets were sealed.
func openSecret(keys *secretbox.Keyring, tenantID string, e secretEntry) (signing.Secret, error) {
	if e.Sealed == "" {
		return e.Secret, nil
	}
	plain, err := keys.Open(e.Sealed, secretPurpose(tenantID))
	if err != nil {
		return nil, fmt.Errorf("tenant %s: signing secret: %w", tenantID, err)
	}
	return plain, nil
}

// openSecrets opens the record's secrets into rec.open, in the same order.
func (s *Store) openSecrets(tenantID string, rec *tenantRecord) error {
	rec.open = make([]signing.Secret, len(rec.Secrets))
	for i, e := range rec.Secrets {
		secret, err := openSecret(s.secretKeys, tenantID, e)
		if err != nil {
			return err
		}
		rec.open[i] = secret
	}
	return nil
}

// ResealView seals again, with the current key, every signing secret of
// the view that another key sealed, and seals those a view written before
// secrets were sealed holds in plain text; it returns how many it sealed,
// and how many of those were in plain text (their old bytes may stay in
// the file's free pages: rebuilding the view removes them). Run it before
// the projector starts: the view then opens with the current key alone once
// the stream does (see Reseal). It returns an *secretbox.UnknownKeyError
// when a secret was sealed with a key the keyring lacks.
func (s *Store) ResealView() (sealed, plain int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTenants)
		if b == nil {
			return nil
		}
		var ids []string // a bucket may not change during its ForEach
		_ = b.ForEach(func(id, _ []byte) error { ids = append(ids, string(id)); return nil })
		for _, id := range ids {
			rec, err := getTenant(tx, id)
			if err != nil {
				return err
			}
			n, p, err := s.resealEntries(id, rec.Secrets)
			if err != nil {
				return err
			}
			if n > 0 {
				sealed, plain = sealed+n, plain+p
				if err := putJSON(b, []byte(id), rec); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("tenant: reseal the view: %w", err)
	}
	s.mu.Lock()
	s.gen++
	clear(s.tenants)
	s.mu.Unlock()
	return sealed, plain, nil
}

// resealEntries seals again the entries not sealed with the current key;
// it returns how many it changed and how many of those were in plain text.
func (s *Store) resealEntries(tenantID string, entries []secretEntry) (sealed, plain int, err error) {
	for i, e := range entries {
		if id, ok := secretbox.SealedWith(e.Sealed); ok && id == s.secretKeys.Current() {
			continue
		}
		secret, err := openSecret(s.secretKeys, tenantID, e)
		if err != nil {
			return 0, 0, err
		}
		if e.Sealed == "" {
			plain++
		}
		entries[i] = secretEntry{Sealed: sealSecret(s.secretKeys, tenantID, secret), ExpiresAt: e.ExpiresAt}
		sealed++
	}
	return sealed, plain, nil
}
