package signing

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// SecretPrefix starts the text form of every signing secret.
const SecretPrefix = "whsec_"

// SecretSize is the number of random bytes in a secret made by NewSecret.
const SecretSize = 32

// ErrInvalidSecret is returned by ParseSecret for text that is not a secret.
var ErrInvalidSecret = errors.New("signing: invalid secret")

// Secret is the key for HMAC-SHA256 signatures. Its String form is
// "whsec_" followed by the standard base64 encoding of the key.
type Secret []byte

// NewSecret returns a secret of SecretSize bytes read from random.
func NewSecret(random io.Reader) (Secret, error) {
	s := make(Secret, SecretSize)
	if _, err := io.ReadFull(random, s); err != nil {
		return nil, fmt.Errorf("signing: new secret: %w", err)
	}
	return s, nil
}

// ParseSecret parses the text form of a secret. The "whsec_" prefix is
// optional, as in the reference libraries. It returns ErrInvalidSecret when
// the rest is not standard base64 or decodes to fewer than 16 bytes.
func ParseSecret(text string) (Secret, error) {
	raw := strings.TrimPrefix(strings.TrimSpace(text), SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 16 {
		return nil, ErrInvalidSecret
	}
	return Secret(key), nil
}

// String returns the text form of the secret, "whsec_<base64>".
func (s Secret) String() string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(s)
}

// MarshalText implements encoding.TextMarshaler with the text form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSecret.
func (s *Secret) UnmarshalText(text []byte) error {
	parsed, err := ParseSecret(string(text))
	if err != nil {
		return err
	}
	*s = parsed
	return nil
}
