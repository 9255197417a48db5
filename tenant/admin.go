package tenant

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// AdminToken checks the operator's admin token in constant time. The zero
// AdminToken accepts nothing: without a configured token the admin API is
// closed.
type AdminToken struct {
	hash []byte
}

// NewAdminToken returns a checker for token; an empty token accepts nothing.
func NewAdminToken(token string) AdminToken {
	if token == "" {
		return AdminToken{}
	}
	sum := sha256.Sum256([]byte(token))
	return AdminToken{hash: sum[:]}
}

// Enabled reports whether a token is configured.
func (a AdminToken) Enabled() bool { return a.hash != nil }

// Check reports whether token is the admin token.
func (a AdminToken) Check(token string) bool {
	if a.hash == nil || token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], a.hash) == 1
}

// Fingerprint names the admin token without revealing it: operator
// sessions carry it, so that changing the token ends them. Empty when no
// token is configured.
func (a AdminToken) Fingerprint() string {
	if a.hash == nil {
		return ""
	}
	sum := sha256.Sum256(append([]byte("boomerang operator session\x00"), a.hash...))
	return hex.EncodeToString(sum[:12])
}
