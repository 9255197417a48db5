package tenant

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrRetentionOutOfBounds is returned by SetRetention for a retention
// outside the server's bounds.
var ErrRetentionOutOfBounds = errors.New("tenant: retention out of bounds")

// RetentionBounds are the retention of finished tasks a tenant may choose,
// and what a tenant that chose none gets. The server derives them from its
// flags: at least long enough for a webhook schedule and the idempotency
// window to run out, at most what the task stream's age limit allows.
type RetentionBounds struct {
	Default, Min, Max time.Duration
}

// DefaultRetentionBounds returns the bounds of a server that names none:
// 30 days by default, from 2 to 30.
func DefaultRetentionBounds() RetentionBounds {
	return RetentionBounds{Default: 30 * day, Min: 2 * day, Max: 30 * day}
}

const day = 24 * time.Hour

// Allows reports whether d is within the bounds.
func (b RetentionBounds) Allows(d time.Duration) bool { return d >= b.Min && d <= b.Max }

// Effective is the retention in force for a tenant that set set (zero:
// none): set, or the default.
func (b RetentionBounds) Effective(set time.Duration) time.Duration {
	if set > 0 {
		return set
	}
	return b.Default
}

// Retention returns how long the tenant's finished tasks stay, as it set
// it; zero when it set none (or is unknown): the server's default applies.
func (s *Store) Retention(tenantID string) time.Duration {
	rec, err := s.tenantRecord(tenantID)
	if err != nil {
		return 0
	}
	return rec.Retention
}

// SetRetention sets how long the tenant's finished tasks stay in the view
// once finished; every node applies it within milliseconds. It returns
// ErrRetentionOutOfBounds when bounds do not allow d, ErrNotFound for an
// unknown tenant.
func (s *Service) SetRetention(ctx context.Context, tenantID string, d time.Duration, bounds RetentionBounds) error {
	if !bounds.Allows(d) {
		return fmt.Errorf("%w: %s is not between %s and %s", ErrRetentionOutOfBounds, d, bounds.Min, bounds.Max)
	}
	if _, err := s.store.Get(tenantID); err != nil {
		return err
	}
	return s.publish(ctx, tenantID, kindRetentionSet, event{At: s.now().UTC(), Retention: d})
}
