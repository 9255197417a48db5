package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// The operator's side: suspend and resume a tenant, its monthly task
// quota, and deleting it. Each is a tenant event like the others.
//
// Deleting publishes tenant.<tenant>.deleted, then purges every earlier
// message of the tenant from the tenant stream: its record, keys, secrets,
// sessions. The deleted event stays, holding nothing but a time, so that
// a node whose view lags applies it when it gets there, and a rebuilt
// view knows the id is gone for good. Applying it removes the tenant's
// record and its keys (which stop authenticating on that node at once)
// and keeps only the id, in bucketDeleted, so that workers drop the work
// of a tenant that no longer exists.

// Event kinds of the operator.
const (
	kindSuspended = "suspended"
	kindResumed   = "resumed"
	kindQuotaSet  = "quota_set"
	kindDeleted   = "deleted"
)

// bucketDeleted holds the ids of deleted tenants: id -> deleted at.
var bucketDeleted = []byte("tenants_deleted")

// ErrDeleted is returned for a tenant that has been deleted.
var ErrDeleted = errors.New("tenant: deleted")

// operatorEvent is the payload of the operator's events.
type operatorEvent struct {
	At time.Time `json:"at"`
	// MonthlyTasks is quota_set's: nil, the server's default; 0, no
	// quota; else the tasks the tenant may create per UTC month.
	MonthlyTasks *int64 `json:"monthlyTasks,omitempty"`
}

// Operator state of a tenant, kept on its record.
type operatorState struct {
	SuspendedAt *time.Time `json:"suspendedAt,omitempty"`
	// Quota is the monthly task quota the operator set: nil, the server's
	// default; 0, none.
	Quota *int64 `json:"quota,omitempty"`
}

// Status is what the operator has set on a tenant.
type Status struct {
	// SuspendedAt is when the tenant was suspended; nil while it is not.
	SuspendedAt *time.Time
	// MonthlyQuota is the tasks the tenant may create per UTC month as the
	// operator set it: nil, the server's default; 0, unlimited.
	MonthlyQuota *int64
}

// Status returns what the operator has set on the tenant; an unknown
// tenant has nothing set.
func (s *Store) Status(tenantID string) Status {
	rec, err := s.tenantRecord(tenantID)
	if err != nil {
		return Status{}
	}
	return Status{SuspendedAt: rec.Operator.SuspendedAt, MonthlyQuota: rec.Operator.Quota}
}

// Suspended reports whether the tenant is suspended.
func (s *Store) Suspended(tenantID string) bool { return s.Status(tenantID).SuspendedAt != nil }

// Deleted reports whether the tenant has been deleted.
func (s *Store) Deleted(tenantID string) bool {
	deleted := false
	_ = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeleted)
		deleted = b != nil && b.Get([]byte(tenantID)) != nil
		return nil
	})
	return deleted
}

// Summary is a tenant as the operator's list shows it.
type Summary struct {
	ID          string     `json:"tenantId"`
	Name        string     `json:"name"`
	CreatedAt   time.Time  `json:"createdAt"`
	SuspendedAt *time.Time `json:"suspendedAt,omitempty"`
}

// ListQuery selects tenants: NamePrefix (case-insensitive) or IDPrefix
// narrow them; After is the id the previous page ended with; Limit bounds
// the page (1 to 1000; 0 means 100).
type ListQuery struct {
	NamePrefix, IDPrefix, After string
	Limit                       int
}

// List returns a page of tenants in the order of their ids, and the id to
// pass as After for the next page ("" on the last one).
func (s *Store) List(q ListQuery) ([]Summary, string, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	name := strings.ToLower(q.NamePrefix)
	out := []Summary{}
	next := ""
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTenants)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		k, v := c.Seek([]byte(q.IDPrefix))
		if q.After != "" && q.After >= q.IDPrefix {
			k, v = c.Seek([]byte(q.After + "\x00"))
		}
		for ; k != nil && strings.HasPrefix(string(k), q.IDPrefix); k, v = c.Next() {
			var rec tenantRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return err
			}
			if !strings.HasPrefix(strings.ToLower(rec.Name), name) {
				continue
			}
			if len(out) == q.Limit {
				next = out[len(out)-1].ID
				return nil
			}
			out = append(out, Summary{ID: string(k), Name: rec.Name, CreatedAt: rec.CreatedAt, SuspendedAt: rec.Operator.SuspendedAt})
		}
		return nil
	})
	return out, next, err
}

// Suspend suspends a tenant: its creates are refused and its waiting work
// holds until Resume; nothing is lost. Suspending a suspended tenant
// changes nothing.
func (s *Service) Suspend(ctx context.Context, tenantID string) error {
	if _, err := s.store.Get(tenantID); err != nil {
		return err
	}
	if s.store.Suspended(tenantID) {
		return nil
	}
	return s.publish(ctx, tenantID, kindSuspended, operatorEvent{At: s.now().UTC()})
}

// Resume lets a suspended tenant work again.
func (s *Service) Resume(ctx context.Context, tenantID string) error {
	if _, err := s.store.Get(tenantID); err != nil {
		return err
	}
	if !s.store.Suspended(tenantID) {
		return nil
	}
	return s.publish(ctx, tenantID, kindResumed, operatorEvent{At: s.now().UTC()})
}

// SetQuota sets the tenant's monthly task quota: nil, the server's
// default; 0, unlimited; n, n tasks per UTC month.
func (s *Service) SetQuota(ctx context.Context, tenantID string, monthlyTasks *int64) error {
	if monthlyTasks != nil && *monthlyTasks < 0 {
		return fmt.Errorf("tenant: a negative quota")
	}
	if _, err := s.store.Get(tenantID); err != nil {
		return err
	}
	return s.publish(ctx, tenantID, kindQuotaSet, operatorEvent{At: s.now().UTC(), MonthlyTasks: monthlyTasks})
}

// Delete deletes the tenant from the tenant stream and, as each applies
// it, from every node's tenant view: its keys stop at once. It returns
// ErrNotFound for a tenant that never existed; deleting a deleted tenant
// purges again and succeeds. Its tasks are the broker's to erase.
func (s *Service) Delete(ctx context.Context, tenantID string) error {
	if _, err := s.store.Get(tenantID); err != nil {
		if !errors.Is(err, ErrNotFound) || !s.store.Deleted(tenantID) {
			return err
		}
	}
	data, err := json.Marshal(operatorEvent{At: s.now().UTC()})
	if err != nil {
		return err
	}
	ack, err := s.js.Publish(ctx, "tenant."+tenantID+"."+kindDeleted, data)
	if err != nil {
		return fmt.Errorf("tenant: publish deleted: %w", err)
	}
	stream, err := s.js.Stream(ctx, Stream)
	if err != nil {
		return fmt.Errorf("tenant: delete: %w", err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject("tenant."+tenantID+".>"), jetstream.WithPurgeSequence(ack.Sequence)); err != nil {
		return fmt.Errorf("tenant: delete: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.view.WaitFor(wctx, ack.Sequence); err != nil {
		return fmt.Errorf("tenant: view did not apply deleted: %w", err)
	}
	return nil
}

// applyOperator applies m if it is an operator's event (parts is its
// subject's) and reports whether it was; a malformed one is skipped. It
// marks the tenant and the keys it touched as changed.
func applyOperator(tx *bolt.Tx, tenants, keys *bolt.Bucket, m jetstream.Msg, parts []string, changedTenants, changedKeys map[string]bool) (bool, error) {
	ok, removed, err := applyOperatorEvent(tx, tenants, keys, parts[1], parts[2], m.Data())
	if !ok {
		return false, nil
	}
	if errors.Is(err, errMalformed) {
		skip(m, err.Error())
		return true, nil
	}
	if err != nil {
		return true, err
	}
	changedTenants[parts[1]] = true
	for _, id := range removed {
		changedKeys[id] = true
	}
	return true, nil
}

// applyOperatorEvent applies an operator's event, reports whether kind is
// one, and returns the ids of the keys it removed.
func applyOperatorEvent(tx *bolt.Tx, tenants, keys *bolt.Bucket, tenantID, kind string, data []byte) (bool, []string, error) {
	switch kind {
	case kindSuspended, kindResumed, kindQuotaSet, kindDeleted:
	default:
		return false, nil, nil
	}
	var ev operatorEvent
	if json.Unmarshal(data, &ev) != nil {
		return true, nil, fmt.Errorf("%w: a %s event that does not decode", errMalformed, kind)
	}
	if kind == kindDeleted {
		ids, err := applyDeleted(tx, tenants, keys, tenantID, ev.At)
		return true, ids, err
	}
	existing := tenants.Get([]byte(tenantID))
	if existing == nil {
		return true, nil, nil
	}
	var rec tenantRecord
	if err := json.Unmarshal(existing, &rec); err != nil {
		return true, nil, fmt.Errorf("the view's record of tenant %s: %w", tenantID, err)
	}
	switch kind {
	case kindSuspended:
		at := ev.At
		rec.Operator.SuspendedAt = &at
	case kindResumed:
		rec.Operator.SuspendedAt = nil
	case kindQuotaSet:
		rec.Operator.Quota = ev.MonthlyTasks
	}
	return true, nil, putJSON(tenants, []byte(tenantID), &rec)
}

// applyDeleted removes the tenant's record and keys and remembers its id.
func applyDeleted(tx *bolt.Tx, tenants, keys *bolt.Bucket, tenantID string, at time.Time) ([]string, error) {
	var removed []string
	if existing := tenants.Get([]byte(tenantID)); existing != nil {
		var rec tenantRecord
		if err := json.Unmarshal(existing, &rec); err != nil {
			return nil, fmt.Errorf("the view's record of tenant %s: %w", tenantID, err)
		}
		for _, id := range rec.KeyIDs {
			if err := keys.Delete([]byte(id)); err != nil {
				return nil, err
			}
			removed = append(removed, id)
		}
		if err := tenants.Delete([]byte(tenantID)); err != nil {
			return nil, err
		}
	}
	if err := dropSessions(tx, tenantID); err != nil {
		return nil, err
	}
	deleted, err := tx.CreateBucketIfNotExists(bucketDeleted)
	if err != nil {
		return nil, err
	}
	return removed, putJSON(deleted, []byte(tenantID), at)
}

// dropSessions removes what the view keeps of the tenant's sessions: its
// "end all" cutoff and its ended sessions, in both their indexes.
func dropSessions(tx *bolt.Tx, tenantID string) error {
	if b := tx.Bucket(bucketSessionCutoff); b != nil {
		if err := b.Delete([]byte(tenantID)); err != nil {
			return err
		}
	}
	byTime, ended := tx.Bucket(bucketEndedByTime), tx.Bucket(bucketSessionsEnded)
	if byTime == nil || ended == nil {
		return nil
	}
	prefix := sessionKey(tenantID, "")
	var drop [][]byte
	c := byTime.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) > 8 && bytes.HasPrefix(k[8:], prefix) {
			drop = append(drop, bytes.Clone(k))
		}
	}
	for _, k := range drop {
		if err := byTime.Delete(k); err != nil {
			return err
		}
		if err := ended.Delete(k[8:]); err != nil {
			return err
		}
	}
	return nil
}

// WorkState reports whether the tenant's work must hold (it is
// suspended) or be dropped (it is deleted), and whether the view knows
// the tenant at all: a tenant made on another node a moment ago, or while
// this view lags, is neither held nor deleted but not known, and this
// node cannot sign its calls yet. The first is read from the cache; the
// rest only for a tenant the view does not hold.
func (s *Store) WorkState(tenantID string) (suspended, deleted, known bool) {
	rec, err := s.tenantRecord(tenantID)
	if err == nil {
		return rec.Operator.SuspendedAt != nil, false, true
	}
	deleted = s.Deleted(tenantID)
	return false, deleted, deleted
}
