package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/secretbox"
)

// Sealing the stream again.
//
// JetStream messages cannot change, so Reseal rewrites the tenant stream:
// it appends a copy of every event, in order, with each signing secret
// sealed with the current key, then deletes the originals, newest first
// (the secret-bearing ones securely: their bytes are overwritten on disk).
// A copy carries its event's origin (copies.go): the sequence at which the
// event first entered the stream. The copies are published as one unbroken
// run (each expects the stream's last sequence to be the one before it): a
// write from another node in between makes the rewrite start again, before
// anything is deleted.
//
// A view applies an event only if its origin is beyond the last one it
// applied: a running view skips every copy, a view rebuilt after the
// rewrite applies them all, and one that was behind applies the copies of
// what it had not reached. Since the originals are deleted newest first,
// those still present are always the oldest ones, so in every state of the
// rewrite — after a crash in the middle of it, or while another node runs
// one too — a view sees each event once, in order. The rewrite copies by
// the same rule (an event already copied, by an interrupted rewrite, is not
// copied twice): it copies what a view rebuilt from the stream would apply.

// secretSubjects are the events that carry a signing secret: Reseal reads
// only these to decide whether the stream needs sealing again. An event
// kind that carries a secret must be added here.
var secretSubjects = []string{"tenant.*." + kindCreated, "tenant.*." + kindSecretRotated}

// rewriteAttempts bounds how often Reseal starts again after another node
// wrote in the middle of its run.
const rewriteAttempts = 5

// errInterleaved says another message landed between the copies.
var errInterleaved = errors.New("tenant: another write landed among the copies")

// Reseal makes every signing secret in the tenant stream sealed with the
// keyring's current key: secrets in plain text (written before secrets
// were sealed) and secrets sealed with an older key are sealed again, and
// their old form is deleted from the stream. It does nothing when nothing
// needs it, so every node runs it at start, before its tenant projector.
// It returns an *secretbox.UnknownKeyError when a secret was sealed with a
// key the keyring lacks, and an error naming the event when a secret does
// not open.
func Reseal(ctx context.Context, js jetstream.JetStream, keys *secretbox.Keyring, logger *slog.Logger) error {
	stream, err := js.Stream(ctx, Stream)
	if err != nil {
		return fmt.Errorf("tenant: reseal: %w", err)
	}
	stale, err := staleSecrets(ctx, stream, keys)
	if err != nil || stale == 0 {
		return err
	}
	logger.Info("sealing the tenant stream's signing secrets with the current secret key: rewriting the stream",
		"stale_secrets", stale, "key_id", keys.Current())
	for attempt := 1; ; attempt++ {
		copied, err := rewrite(ctx, js, stream, keys)
		if err == nil {
			logger.Info("tenant stream rewritten: every signing secret is sealed with the current key", "events", copied, "key_id", keys.Current())
			return nil
		}
		if !errors.Is(err, errInterleaved) || attempt == rewriteAttempts {
			return fmt.Errorf("tenant: reseal: %w", err)
		}
		logger.Info("another node wrote to the tenant stream during the rewrite; starting again", "attempt", attempt)
	}
}

// staleSecrets returns how many events hold a secret in plain text or
// sealed with another key than the current one, or are copies next to
// their originals (a rewrite was interrupted).
func staleSecrets(ctx context.Context, stream jetstream.Stream, keys *secretbox.Keyring) (int, error) {
	stale := 0
	var last uint64 // the greatest origin so far
	err := scan(ctx, stream, secretSubjects, func(m jetstream.Msg, seq uint64) error {
		if origin := originOf(m, seq); origin <= last {
			stale++ // a copy after its original
		} else {
			last = origin
		}
		tenantID := subjectTenant(m.Subject())
		var ev struct {
			Secret json.RawMessage `json:"secret"`
			Sealed string          `json:"sealedSecret"`
		}
		if json.Unmarshal(m.Data(), &ev) != nil {
			return nil // malformed: the view skips it too
		}
		if len(ev.Secret) > 0 && string(ev.Secret) != "null" {
			stale++
		}
		if ev.Sealed == "" {
			return nil
		}
		if _, err := keys.Open(ev.Sealed, secretPurpose(tenantID)); err != nil {
			return fmt.Errorf("tenant %s: the signing secret of event %d: %w", tenantID, seq, err)
		}
		if id, _ := secretbox.SealedWith(ev.Sealed); id != keys.Current() {
			stale++
		}
		return nil
	})
	return stale, err
}

// rewrite copies every event of the stream, its secrets sealed with the
// current key, then deletes the originals newest first. It returns the
// number of copies.
func rewrite(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, keys *secretbox.Keyring) (int, error) {
	c, err := copyAll(ctx, js, stream, keys)
	if err != nil || c.copied == 0 {
		return 0, err
	}
	return c.copied, deleteNewestFirst(ctx, stream, c.present, c.secret, c.first, c.last)
}

// copied is what copyAll did: the originals it saw, those of them holding
// a secret, and how many copies it made.
type copied struct {
	first, last     uint64
	present, secret seqSet
	copied          int
}

// copyAll appends a copy of every event of the stream (once, though an
// interrupted rewrite left two), its secret sealed with the current key, as
// one unbroken run.
func copyAll(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, keys *secretbox.Keyring) (copied, error) {
	info, err := stream.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return copied{}, err
	}
	c := copied{first: info.State.FirstSeq, last: info.State.LastSeq}
	c.present, c.secret = newSeqSet(c.first, c.last), newSeqSet(c.first, c.last)
	pub := copyPublisher{js: js, next: c.last}
	var lastOrigin uint64
	err = scan(ctx, stream, nil, func(m jetstream.Msg, seq uint64) error {
		if seq > c.last {
			return nil
		}
		c.present.add(seq)
		if holdsSecret(m.Data()) {
			c.secret.add(seq)
		}
		origin := originOf(m, seq)
		if origin <= lastOrigin {
			return nil // copied already (an interrupted rewrite's copy)
		}
		lastOrigin = origin
		out, err := resealedCopy(m, seq, origin, keys)
		if err != nil {
			return err
		}
		return pub.publish(ctx, out)
	})
	if err == nil {
		err = pub.wait(ctx)
	}
	c.copied = pub.copied
	return c, err
}

// deleteNewestFirst deletes the messages in present, from last down to
// first; those in secret securely.
func deleteNewestFirst(ctx context.Context, stream jetstream.Stream, present, secret seqSet, first, last uint64) error {
	for seq := last; seq >= first && seq > 0; seq-- {
		if !present.has(seq) {
			continue
		}
		del := stream.DeleteMsg
		if secret.has(seq) {
			del = stream.SecureDeleteMsg
		}
		if err := del(ctx, seq); err != nil && !gone(ctx, stream, seq) {
			return fmt.Errorf("delete event %d: %w", seq, err)
		}
	}
	return nil
}

// gone reports, after a delete failed, whether the message was gone
// already: expired, or deleted by another node's rewrite.
func gone(ctx context.Context, stream jetstream.Stream, seq uint64) bool {
	_, err := stream.GetMsg(ctx, seq)
	return errors.Is(err, jetstream.ErrMsgNotFound)
}

// resealedCopy returns the copy of m (at seq, of an event from origin) to
// publish: its subject, its headers but JetStream's (except its time to
// live), and its payload with the signing secret, if any, sealed with the
// current key.
func resealedCopy(m jetstream.Msg, seq, origin uint64, keys *secretbox.Keyring) (*nats.Msg, error) {
	out := &nats.Msg{Subject: m.Subject(), Data: m.Data(), Header: nats.Header{}}
	for name, values := range m.Headers() {
		if !strings.HasPrefix(name, "Nats-") || name == jetstream.MsgTTLHeader {
			out.Header[name] = values
		}
	}
	out.Header.Set(headerOrigin, strconv.FormatUint(origin, 10))
	var ev event
	if !holdsSecret(m.Data()) || json.Unmarshal(m.Data(), &ev) != nil {
		return out, nil // nothing to seal, or malformed: copied as it is, the view skips it
	}
	tenantID := subjectTenant(m.Subject())
	secret := []byte(ev.Secret)
	if ev.Sealed != "" {
		var err error
		if secret, err = keys.Open(ev.Sealed, secretPurpose(tenantID)); err != nil {
			return nil, fmt.Errorf("tenant %s: the signing secret of event %d: %w", tenantID, seq, err)
		}
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(m.Data(), &fields) // an event: an object
	delete(fields, "secret")
	fields["sealedSecret"], _ = json.Marshal(sealSecret(keys, tenantID, secret))
	data, err := json.Marshal(fields)
	if err != nil {
		return nil, err
	}
	out.Data = data
	return out, nil
}

// holdsSecret reports whether an event's payload has a signing secret,
// sealed or not.
func holdsSecret(data []byte) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return false
	}
	_, plain := fields["secret"]
	_, sealed := fields["sealedSecret"]
	return plain || sealed
}

func subjectTenant(subject string) string {
	parts := strings.Split(subject, ".")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// copyPublisher publishes the copies as one unbroken run: each expects the
// stream to end at the sequence before it.
type copyPublisher struct {
	js      jetstream.JetStream
	next    uint64 // the sequence the stream must end at before the next copy
	copied  int
	pending []pendingCopy
}

type pendingCopy struct {
	ack jetstream.PubAckFuture
	seq uint64
}

// copyWindow bounds the copies in flight.
const copyWindow = 1000

func (p *copyPublisher) publish(ctx context.Context, m *nats.Msg) error {
	ack, err := p.js.PublishMsgAsync(m, jetstream.WithExpectLastSequence(p.next))
	if err != nil {
		return err
	}
	p.next++
	p.copied++
	p.pending = append(p.pending, pendingCopy{ack: ack, seq: p.next})
	if len(p.pending) >= copyWindow {
		return p.wait(ctx)
	}
	return nil
}

// wait waits for the acknowledgements of the copies in flight.
func (p *copyPublisher) wait(ctx context.Context) error {
	defer func() { p.pending = p.pending[:0] }()
	for _, c := range p.pending {
		select {
		case ack := <-c.ack.Ok():
			if ack.Sequence != c.seq {
				return errInterleaved
			}
		case err := <-c.ack.Err():
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
				return errInterleaved
			}
			return fmt.Errorf("copy: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// scan calls fn with every message of the stream whose subject matches
// filters (all of them without filters), in order, as the stream was when
// scan began.
//
// An ephemeral consumer has been seen, on a busy cluster, to send its
// heartbeats and deliver nothing while messages were pending: one that
// delivers nothing for scanStall is replaced by one that starts after the
// last message handed to fn.
func scan(ctx context.Context, stream jetstream.Stream, filters []string, fn func(m jetstream.Msg, seq uint64) error) error {
	var pending, after uint64 // messages left to read; the last one's sequence
	for first := true; first || pending > 0; first = false {
		cfg := jetstream.ConsumerConfig{
			FilterSubjects: filters, AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, InactiveThreshold: time.Minute,
		}
		if !first {
			cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
		}
		cons, err := stream.CreateConsumer(ctx, cfg)
		if err != nil {
			return fmt.Errorf("tenant: scan: %w", err)
		}
		if first {
			pending = cons.CachedInfo().NumPending
		}
		err = scanWith(ctx, cons, scanStall, &pending, &after, fn)
		_ = stream.DeleteConsumer(context.WithoutCancel(ctx), cons.CachedInfo().Name)
		if err != nil && !errors.Is(err, errScanStalled) {
			return err
		}
	}
	return nil
}

// scanStall is how long a scan waits for its consumer's next message.
const scanStall = 5 * time.Second

// errScanStalled says a scan's consumer delivered nothing for scanStall.
var errScanStalled = errors.New("tenant: scan: the consumer delivered nothing")

// scanWith reads up to *pending messages from cons, handing each to fn and
// counting it off *pending, its sequence in *after. It returns
// errScanStalled when cons delivers nothing for stall.
func scanWith(ctx context.Context, cons jetstream.Consumer, stall time.Duration, pending, after *uint64, fn func(m jetstream.Msg, seq uint64) error) error {
	if *pending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(500))
	if err != nil {
		return fmt.Errorf("tenant: scan: %w", err)
	}
	defer it.Stop()
	for *pending > 0 {
		next, cancel := context.WithTimeout(ctx, stall)
		m, err := it.Next(jetstream.NextContext(next))
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			return errScanStalled
		case err != nil:
			return fmt.Errorf("tenant: scan: %w", err)
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("tenant: scan: %w", err)
		}
		if err := fn(m, meta.Sequence.Stream); err != nil {
			return err
		}
		*pending, *after = *pending-1, meta.Sequence.Stream
	}
	return nil
}

// seqSet is a set of stream sequences in [first, last].
type seqSet struct {
	first uint64
	bits  []uint64
}

func newSeqSet(first, last uint64) seqSet {
	return seqSet{first: first, bits: make([]uint64, (last-first)/64+1)}
}

func (s seqSet) add(seq uint64) { s.bits[(seq-s.first)/64] |= 1 << ((seq - s.first) % 64) }

func (s seqSet) has(seq uint64) bool {
	if seq < s.first || (seq-s.first)/64 >= uint64(len(s.bits)) {
		return false
	}
	return s.bits[(seq-s.first)/64]&(1<<((seq-s.first)%64)) != 0
}
