package tenant

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"
)

// Dashboard sessions end on every node through the tenant stream:
//
//   - tenant.<tenant>.session_ended: one session signed out. The view
//     remembers its id until the session would have ended anyway; the
//     message itself expires from the stream then (a per-message TTL).
//   - tenant.<tenant>.sessions_ended: every session (and sign-in link) of
//     the tenant begun before the event ends.
//   - tenant.<tenant>.link_used.<link>: a sign-in link was used. It is
//     published only when the subject is empty, so the stream itself lets
//     exactly one use through, across nodes and restarts; it is not
//     projected, and it expires from the stream after the link has.
const (
	kindSessionEnded  = "session_ended"
	kindSessionsEnded = "sessions_ended"
	kindLinkUsed      = "link_used"
)

// ErrLinkUsed is returned for a sign-in link that was used before.
var ErrLinkUsed = errors.New("tenant: sign-in link already used")

// endedMargin is how long the record of an ended session (or a used link)
// outlives the session: clocks of nodes may differ a little.
const endedMargin = time.Hour

// Buckets of the ended sessions in the tenant view.
var (
	bucketSessionsEnded = []byte("sessions_ended")    // tenant/session -> until (Unix ns, big endian)
	bucketEndedByTime   = []byte("sessions_ended_by") // until (Unix ns, big endian) + tenant/session -> nothing
	bucketSessionCutoff = []byte("sessions_cutoff")   // tenant -> the last "end all sessions" (RFC 3339)
)

// sessionEvent is the payload of the session events.
type sessionEvent struct {
	At        time.Time `json:"at"`
	SessionID string    `json:"sessionId,omitempty"`
	Until     time.Time `json:"until,omitzero"`
}

// EndSession ends a dashboard session on every node: each refuses its
// tokens once it has applied the event, this node before EndSession
// returns. until is when the session would end anyway; the record is kept
// until then.
func (s *Service) EndSession(ctx context.Context, tenantID, sessionID string, until time.Time) error {
	if _, err := s.store.tenantRecord(tenantID); err != nil {
		return err
	}
	now := s.now()
	ttl := max(until.Sub(now)+endedMargin, time.Minute)
	ev := sessionEvent{At: now.UTC(), SessionID: sessionID, Until: until.UTC()}
	return s.publish(ctx, tenantID, kindSessionEnded, ev, jetstream.WithMsgTTL(ttl))
}

// EndAllSessions ends every dashboard session of the tenant begun before
// now, however it was opened (an API key or a sign-in link), and every
// sign-in link issued before now, on every node.
func (s *Service) EndAllSessions(ctx context.Context, tenantID string) error {
	if _, err := s.store.tenantRecord(tenantID); err != nil {
		return err
	}
	return s.publish(ctx, tenantID, kindSessionsEnded, sessionEvent{At: s.now().UTC()})
}

// UseSignInLink records the use of a sign-in link in the tenant stream. It
// returns ErrLinkUsed when the link was used before, on any node, before or
// after a restart; of concurrent uses exactly one succeeds.
func (s *Service) UseSignInLink(ctx context.Context, link Session) error {
	if !subjectToken(link.TenantID) || !subjectToken(link.ID) {
		return ErrUnauthorized
	}
	now := s.now()
	data, err := json.Marshal(sessionEvent{At: now.UTC()})
	if err != nil {
		return err
	}
	ttl := max(link.EndsAt.Sub(now)+endedMargin, time.Minute)
	msg := &nats.Msg{Subject: "tenant." + link.TenantID + "." + kindLinkUsed + "." + link.ID, Data: data}
	_, err = s.js.PublishMsg(ctx, msg, jetstream.WithExpectLastSequencePerSubject(0), jetstream.WithMsgTTL(ttl))
	switch {
	case wrongLastSequence(err):
		return ErrLinkUsed
	case err != nil:
		return fmt.Errorf("tenant: publish %s: %w", kindLinkUsed, err)
	}
	return nil
}

// subjectToken reports whether s can stand as one token of a subject.
func subjectToken(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsAny(s, ".*> \t\r\n")
}

// SessionActive reports whether a dashboard session, or a sign-in link,
// may still be used: its tenant exists, it has not been signed out, it
// began after the tenant last ended all its sessions, and the API key it
// signed in with, if any, has not been revoked. The token's own signature
// and expiry are Tokens' to check. A tenant or key this node does not know
// yet makes it wait, bounded, for the view to catch up: the session may
// have begun on another node a moment ago. When the view cannot catch up
// it returns ErrViewBehind: the node cannot tell.
func (s *Store) SessionActive(ctx context.Context, sess Session) (bool, error) {
	if !s.sessionPrincipalKnown(sess) && s.catchUp != nil {
		if err := s.catchUpOnMiss(ctx); err != nil {
			return false, err
		}
	}
	if !s.sessionPrincipalKnown(sess) {
		return false, nil
	}
	if sess.KeyID != "" && !s.KeyActive(sess.TenantID, sess.KeyID) {
		return false, nil
	}
	active := false
	err := s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSessionCutoff); b != nil {
			if v := b.Get([]byte(sess.TenantID)); v != nil {
				var cutoff time.Time
				if err := cutoff.UnmarshalText(v); err != nil {
					return err
				}
				if !sess.SignedInAt.After(cutoff) {
					return nil
				}
			}
		}
		if b := tx.Bucket(bucketSessionsEnded); b != nil && b.Get(sessionKey(sess.TenantID, sess.ID)) != nil {
			return nil
		}
		active = true
		return nil
	})
	return err == nil && active, err
}

// sessionPrincipalKnown reports whether the view holds the session's
// tenant and, if it signed in with one, its API key (revoked or not).
func (s *Store) sessionPrincipalKnown(sess Session) bool {
	if _, err := s.tenantRecord(sess.TenantID); err != nil {
		return false
	}
	if sess.KeyID == "" {
		return true
	}
	rec, found, err := s.lookupKey(sess.KeyID)
	return err == nil && found && rec.TenantID == sess.TenantID
}

// SessionsChanged returns a channel that is closed once the view has
// applied an event that may end sessions: a sign-out, an end of all
// sessions, a key revocation. Long-lived responses wait on it, then check
// SessionActive again.
func (s *Store) SessionsChanged() <-chan struct{} { return s.sessions.changed() }

// sessionWatch hands out a channel that the next wake closes.
type sessionWatch struct {
	mu sync.Mutex
	ch chan struct{}
}

func (w *sessionWatch) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *sessionWatch) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

func sessionKey(tenantID, sessionID string) []byte { return []byte(tenantID + "/" + sessionID) }

// applySessionEvent applies a session event, and reports whether the
// event was one; a malformed one is skipped. Applying one forgets the
// ended sessions that have been over for endedMargin at its time: the
// stream, not this node's clock, decides, so a rebuilt view equals the
// live one.
func applySessionEvent(tx *bolt.Tx, tenantID, kind string, data []byte) (bool, error) {
	if kind != kindSessionEnded && kind != kindSessionsEnded {
		return false, nil
	}
	var ev sessionEvent
	if json.Unmarshal(data, &ev) != nil || ev.At.IsZero() {
		return true, nil
	}
	if err := forgetEndedSessions(tx, ev.At.Add(-endedMargin)); err != nil {
		return true, err
	}
	if kind == kindSessionsEnded {
		return true, raiseCutoff(tx, tenantID, ev.At)
	}
	if ev.SessionID == "" || !ev.Until.After(ev.At.Add(-endedMargin)) {
		return true, nil // nothing to remember
	}
	ended, err := tx.CreateBucketIfNotExists(bucketSessionsEnded)
	if err != nil {
		return true, err
	}
	byTime, err := tx.CreateBucketIfNotExists(bucketEndedByTime)
	if err != nil {
		return true, err
	}
	key := sessionKey(tenantID, ev.SessionID)
	until := binary.BigEndian.AppendUint64(nil, uint64(ev.Until.UnixNano()))
	if err := ended.Put(key, until); err != nil {
		return true, err
	}
	return true, byTime.Put(append(until, key...), nil)
}

// raiseCutoff records that the tenant's sessions begun before at end,
// keeping the latest such time.
func raiseCutoff(tx *bolt.Tx, tenantID string, at time.Time) error {
	b, err := tx.CreateBucketIfNotExists(bucketSessionCutoff)
	if err != nil {
		return err
	}
	var prev time.Time
	if v := b.Get([]byte(tenantID)); v != nil && prev.UnmarshalText(v) == nil && !at.After(prev) {
		return nil
	}
	text, err := at.UTC().MarshalText()
	if err != nil {
		return err
	}
	return b.Put([]byte(tenantID), text)
}

// forgetEndedSessions drops the ended sessions that would have ended
// before cutoff anyway.
func forgetEndedSessions(tx *bolt.Tx, cutoff time.Time) error {
	byTime, ended := tx.Bucket(bucketEndedByTime), tx.Bucket(bucketSessionsEnded)
	if byTime == nil || ended == nil {
		return nil
	}
	limit := binary.BigEndian.AppendUint64(nil, uint64(cutoff.UnixNano()))
	var old [][]byte
	c := byTime.Cursor()
	for k, _ := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0; k, _ = c.Next() {
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := byTime.Delete(k); err != nil {
			return err
		}
		if bytes.Equal(ended.Get(k[8:]), k[:8]) {
			if err := ended.Delete(k[8:]); err != nil {
				return err
			}
		}
	}
	return nil
}
