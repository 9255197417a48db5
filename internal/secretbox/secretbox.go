// Package secretbox seals the secrets Boomerang keeps in its streams (the
// tenants' webhook signing secrets, the token-signing key) with the
// operator's secret keys, so that a copy of the stream alone reveals none
// of them.
//
// A Keyring holds one or more 256-bit keys: the first seals, every one
// opens, so keys can be rotated (configure NEW,OLD, let the owners of the
// sealed values seal them again, then drop OLD). Each sealed value names
// the key that sealed it and is bound to a purpose (associated data, such
// as the tenant it belongs to): a value moved to another purpose does not
// open. The cipher is AES-256-GCM with a random 96-bit nonce per value,
// from the standard library.
//
// A sealed value is text: "sb1.<key id>.<base64url of nonce, ciphertext
// and tag>". The key id is the first 4 bytes of a SHA-256 of the key, in
// hex; it tells which key to use and reveals nothing of it.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KeySize is the size in bytes of a key.
const KeySize = 32

// prefix starts every sealed value; the digit is the format's version.
const prefix = "sb1."

// ErrOpen is returned by Open for a value that its key does not open: it
// was altered, or sealed for another purpose.
var ErrOpen = errors.New("secretbox: the sealed value does not open: altered, or sealed for something else")

// ErrNotSealed is returned by Open for text that is not a sealed value.
var ErrNotSealed = errors.New("secretbox: not a sealed value")

// UnknownKeyError is returned by Open for a value sealed with a key that
// the keyring does not hold.
type UnknownKeyError struct {
	ID    string   // the id of the key that sealed the value
	Known []string // the ids of the keyring's keys
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("secretbox: sealed with secret key %s, which is not configured (configured: %s)", e.ID, strings.Join(e.Known, ", "))
}

// Keyring seals with its first key and opens with any of its keys.
type Keyring struct {
	keys []key
}

type key struct {
	id   string
	aead cipher.AEAD
}

// Parse returns the keyring of spec: comma-separated keys, each the
// base64 (standard or URL alphabet, padded or not) of KeySize bytes, the
// sealing key first. Its errors name a key by its position, never by its
// value.
func Parse(spec string) (*Keyring, error) {
	var k Keyring
	parts := strings.Split(spec, ",")
	for i, part := range parts {
		raw, err := decodeKey(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d of %d: %w", i+1, len(parts), err)
		}
		id := KeyID(raw)
		if slices.ContainsFunc(k.keys, func(e key) bool { return e.id == id }) {
			return nil, fmt.Errorf("secretbox: key %d of %d is given twice", i+1, len(parts))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCMWithRandomNonce(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key %d: %w", i+1, err)
		}
		k.keys = append(k.keys, key{id: id, aead: aead})
	}
	return &k, nil
}

func decodeKey(text string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(text); err == nil {
			if len(raw) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d", len(raw), KeySize)
			}
			return raw, nil
		}
	}
	return nil, errors.New("not base64")
}

// NewKey returns a new random key in the text form Parse reads.
func NewKey() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("secretbox: new key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// KeyID returns the id of a raw key.
func KeyID(raw []byte) string {
	sum := sha256.Sum256(append([]byte("boomerang secretbox key id\x00"), raw...))
	return hex.EncodeToString(sum[:4])
}

// Current returns the id of the key that seals.
func (k *Keyring) Current() string { return k.keys[0].id }

// IDs returns the ids of every key, the sealing one first.
func (k *Keyring) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, e := range k.keys {
		ids[i] = e.id
	}
	return ids
}

// Seal seals plaintext for purpose with the current key.
func (k *Keyring) Seal(plaintext []byte, purpose string) string {
	cur := k.keys[0]
	sealed := cur.aead.Seal(nil, nil, plaintext, associatedData(cur.id, purpose))
	return prefix + cur.id + "." + base64.RawURLEncoding.EncodeToString(sealed)
}

// Open returns the plaintext of a value sealed for purpose. It returns
// ErrNotSealed for text that is not a sealed value, an *UnknownKeyError
// when its key is not in the keyring, and ErrOpen when the key does not
// open it.
func (k *Keyring) Open(sealed, purpose string) ([]byte, error) {
	id, body, ok := split(sealed)
	if !ok {
		return nil, ErrNotSealed
	}
	i := slices.IndexFunc(k.keys, func(e key) bool { return e.id == id })
	if i < 0 {
		return nil, &UnknownKeyError{ID: id, Known: k.IDs()}
	}
	ct, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return nil, ErrOpen
	}
	plain, err := k.keys[i].aead.Open(nil, nil, ct, associatedData(id, purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// SealedWith returns the id of the key that sealed a value, and false for
// text that is not a sealed value.
func SealedWith(sealed string) (string, bool) {
	id, _, ok := split(sealed)
	return id, ok
}

func split(sealed string) (id, body string, ok bool) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", "", false
	}
	id, body, ok = strings.Cut(rest, ".")
	if !ok || len(id) != 8 || body == "" {
		return "", "", false
	}
	return id, body, true
}

// associatedData binds a sealed value to its format, its key and its
// purpose.
func associatedData(id, purpose string) []byte {
	return []byte(prefix + id + "\x00" + purpose)
}
