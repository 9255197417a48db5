package tenant

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// Operator sessions (Tokens.IssueOperatorSession) belong to no tenant. A
// signed-out one ends on every node like a tenant's: a session_ended
// event, on the subject of a pseudo-tenant that no tenant id can be
// (tenant ids are "ten_…"), which the view records as it records any
// session_ended.
const operatorSubject = "_operator"

// EndOperatorSession ends an operator's dashboard session on every node:
// each refuses its tokens once it has applied the event, this node before
// EndOperatorSession returns. until is when the session would end anyway.
func (s *Service) EndOperatorSession(ctx context.Context, sessionID string, until time.Time) error {
	now := s.now()
	ttl := max(until.Sub(now)+endedMargin, time.Minute)
	ev := sessionEvent{At: now.UTC(), SessionID: sessionID, Until: until.UTC()}
	return s.publish(ctx, operatorSubject, kindSessionEnded, ev, jetstream.WithMsgTTL(ttl))
}

// OperatorSessionActive reports whether an operator's session has not
// been signed out on any node. Its token's signature, expiry and admin
// token are the caller's to check.
func (s *Store) OperatorSessionActive(sess Session) bool {
	if !sess.Operator {
		return false
	}
	ended := true
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessionsEnded)
		ended = b != nil && b.Get(sessionKey(operatorSubject, sess.ID)) != nil
		return nil
	})
	return err == nil && !ended
}
