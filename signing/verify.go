package signing

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a webhook-timestamp may be from the receiver's
// clock, in either direction, before Verify rejects the message.
const DefaultTolerance = 5 * time.Minute

// Errors returned by Verify. Callers may branch on them with errors.Is.
var (
	ErrMissingHeader       = errors.New("signing: missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidTimestamp    = errors.New("signing: webhook-timestamp is not a Unix time in seconds")
	ErrTimestampTooOld     = errors.New("signing: webhook-timestamp is too old")
	ErrTimestampTooNew     = errors.New("signing: webhook-timestamp is too far in the future")
	ErrNoMatchingSignature = errors.New("signing: no signature matches")
)

// Verify checks a received message: its headers h, its raw body, the
// receiver's clock now, and the secrets the receiver accepts. It returns nil
// when a v1 signature in the webhook-signature header matches one of the
// secrets and the timestamp is within DefaultTolerance of now.
func Verify(h http.Header, body []byte, now time.Time, secrets ...Secret) error {
	return Verifier{Secrets: secrets, Tolerance: DefaultTolerance}.Verify(h, body, now)
}

// Verifier verifies messages with a chosen tolerance.
type Verifier struct {
	// Secrets are the secrets accepted; any one matching is enough.
	Secrets []Secret
	// Tolerance bounds the timestamp's distance from now; zero means
	// DefaultTolerance.
	Tolerance time.Duration
}

// Verify is like the package-level Verify with the verifier's settings.
func (v Verifier) Verify(h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeader
	}
	unix, err := ParseTimestamp(ts)
	if err != nil {
		return err
	}
	tolerance := v.Tolerance
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sent := time.Unix(unix, 0)
	switch {
	case now.Sub(sent) > tolerance:
		return ErrTimestampTooOld
	case sent.Sub(now) > tolerance:
		return ErrTimestampTooNew
	}
	candidates := ParseSignatures(sigs)
	for _, secret := range v.Secrets {
		want := mac(secret, id, unix, body)
		for _, got := range candidates {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrNoMatchingSignature
}

// ParseTimestamp parses a webhook-timestamp header: a decimal Unix time in
// seconds. It returns ErrInvalidTimestamp for anything else.
func ParseTimestamp(value string) (int64, error) {
	unix, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil || unix < 0 {
		return 0, ErrInvalidTimestamp
	}
	return unix, nil
}

// ParseSignatures returns the decoded v1 signatures in a webhook-signature
// header value. Entries of other versions and malformed entries are skipped.
func ParseSignatures(value string) [][]byte {
	var out [][]byte
	for _, field := range strings.Fields(value) {
		version, sig, ok := strings.Cut(field, ",")
		if !ok || version != signatureVersion {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		out = append(out, raw)
	}
	return out
}
