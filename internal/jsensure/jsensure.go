// Package jsensure makes sure JetStream streams and durable consumers exist
// with a given configuration and have a leader, in a way that several
// nodes can do at the same moment on a fresh cluster.
//
// nats.go's CreateOrUpdateStream sends an update first and creates only
// when the update finds no stream. On a cluster (nats-server v2.15.2) an
// update is answered by the stream's leader only; an update applied before
// a new stream has elected its first leader takes the place of the
// create's assignment and counts as answered, so when the leader is
// elected it answers neither: the creating node and the updating one both
// wait until their deadline. Two nodes started together on a fresh cluster
// hit exactly that. An identical create, by contrast, is answered by the
// stream's members at once, whether the first create is still in flight
// or long done. So Stream creates first, and updates only when the stream
// exists with another configuration, once it has a leader. Consumer does
// the same for durable consumers: it creates one that does not exist,
// leaves one alone whose configuration already matches, and updates one
// only once it has a leader.
//
// Every function retries what a cluster that is starting, electing or
// placing answers (no responders, temporarily unavailable, no peers yet,
// a request without an answer) until ctx ends, logging while it waits.
package jsensure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Error codes of nats-server a starting cluster answers with for a while.
const (
	codeNoPeers       = 10005 // no suitable peers for placement (yet)
	codeNotAvailable  = 10008 // JetStream system temporarily unavailable
	codeNotLeader     = 10009 // the cluster cannot handle the request (yet)
	codeInsufficient  = 10023 // insufficient resources: not enough servers known
	codeStreamOffline = 10118
	codeConsumerOff   = 10119
)

// errNotYet is what a try reports when what it waits for is not there yet.
var errNotYet = errors.New("not yet")

// Timing of the retries. A try that is not answered within tryTimeout is
// sent again (every request here is idempotent), a meta leader probe
// within metaTryTimeout (a server of a cluster that has no leader yet
// leaves JetStream requests unanswered for its first ten seconds); waits
// grow from firstPause to maxPause; a wait is logged once it has lasted
// firstLog, then every logEvery.
const (
	tryTimeout     = 5 * time.Second
	metaTryTimeout = 2 * time.Second
	firstPause     = 100 * time.Millisecond
	maxPause       = 2 * time.Second
	firstLog       = time.Second
	logEvery       = 5 * time.Second
)

// MetaLeader waits until the JetStream cluster behind js has a meta
// leader (on a single server: until JetStream answers), logging while it
// waits. It returns ctx's error, with the last answer, when ctx ends first,
// and at once an error that no wait mends (JetStream disabled for the
// account).
func MetaLeader(ctx context.Context, js jetstream.JetStream, logger *slog.Logger) error {
	return retry(ctx, orDiscard(logger), "waiting for the JetStream meta leader", nil, func(ctx context.Context) (bool, error) {
		ctx, cancel := context.WithTimeout(ctx, metaTryTimeout)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil, err
	})
}

// Stream makes sure the stream cfg.Name exists with cfg and has a leader,
// and returns it. It creates the stream, or updates it when it exists with
// another configuration (after its leader is elected).
func Stream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig, logger *slog.Logger) (jetstream.Stream, error) {
	return ensure(ctx, js, cfg.Name, []any{"stream", cfg.Name}, orDiscard(logger), jetstream.ErrStreamNameAlreadyInUse,
		func(ctx context.Context) (jetstream.Stream, error) { return js.CreateStream(ctx, cfg) },
		func(ctx context.Context) (jetstream.Stream, error) { return js.UpdateStream(ctx, cfg) })
}

// KeyValue makes sure the key-value bucket cfg.Bucket exists with cfg and
// its stream has a leader, as Stream does for a stream, and returns it.
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, logger *slog.Logger) (jetstream.KeyValue, error) {
	return ensure(ctx, js, "KV_"+cfg.Bucket, []any{"bucket", cfg.Bucket}, orDiscard(logger), jetstream.ErrBucketExists,
		func(ctx context.Context) (jetstream.KeyValue, error) { return js.CreateKeyValue(ctx, cfg) },
		func(ctx context.Context) (jetstream.KeyValue, error) { return js.UpdateKeyValue(ctx, cfg) })
}

// ensure creates what stream holds, or, when create says it exists with
// another configuration (exists), updates it once the stream has a
// leader; then it waits until the stream has a leader.
func ensure[T any](ctx context.Context, js jetstream.JetStream, stream string, attrs []any, logger *slog.Logger, exists error,
	create, update func(context.Context) (T, error)) (T, error) {
	var made, none T
	try := func(do func(context.Context) (T, error)) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			var err error
			made, err = do(ctx)
			return err == nil, err
		}
	}
	err := retry(ctx, logger, "waiting to create", attrs, try(create))
	if errors.Is(err, exists) {
		if err := StreamLeader(ctx, js, stream, logger); err != nil {
			return none, err
		}
		logger.Info("updating the configuration", attrs...)
		err = retry(ctx, logger, "waiting to update", attrs, try(update))
	}
	if err != nil {
		return none, fmt.Errorf("stream %s: %w", stream, err)
	}
	if err := StreamLeader(ctx, js, stream, logger); err != nil {
		return none, err
	}
	return made, nil
}

// StreamLeader waits until the stream has a leader (a stream of a single
// server always has), logging while it waits.
func StreamLeader(ctx context.Context, js jetstream.JetStream, name string, logger *slog.Logger) error {
	err := retry(ctx, orDiscard(logger), "waiting for the stream's leader", []any{"stream", name}, func(ctx context.Context) (bool, error) {
		s, err := js.Stream(ctx, name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			// Asked of a server that has not applied the create yet.
			return false, fmt.Errorf("%w: %w", errNotYet, err)
		}
		if err != nil {
			return false, err
		}
		return led(s.CachedInfo().Cluster)
	})
	if err != nil {
		return fmt.Errorf("stream %s: leader: %w", name, err)
	}
	return nil
}

// Consumer makes sure the durable consumer cfg.Durable of stream exists
// with cfg and has a leader: it creates one that does not exist, leaves
// one alone whose configuration has every field cfg sets, and updates any
// other once it has a leader.
func Consumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, logger *slog.Logger) error {
	logger = orDiscard(logger)
	attrs := []any{"stream", stream, "consumer", cfg.Durable}
	var found *jetstream.ConsumerInfo
	err := retry(ctx, logger, "waiting to create the consumer", attrs, func(ctx context.Context) (bool, error) {
		c, err := js.Consumer(ctx, stream, cfg.Durable)
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			return createOrUpdateConsumer(ctx, js, stream, cfg)
		case err != nil:
			return false, err
		}
		found = c.CachedInfo()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	if found != nil && !sameConsumer(found.Config, cfg) {
		if err := updateConsumer(ctx, js, stream, cfg, logger); err != nil {
			return err
		}
	}
	return consumerLeader(ctx, js, stream, cfg.Durable, logger)
}

// updateConsumer updates the durable consumer cfg.Durable of stream once
// it has a leader.
func updateConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, logger *slog.Logger) error {
	if err := consumerLeader(ctx, js, stream, cfg.Durable, logger); err != nil {
		return err
	}
	attrs := []any{"stream", stream, "consumer", cfg.Durable}
	logger.Info("updating the consumer's configuration", attrs...)
	err := retry(ctx, logger, "waiting to update the consumer", attrs, func(ctx context.Context) (bool, error) {
		return createOrUpdateConsumer(ctx, js, stream, cfg)
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", cfg.Durable, err)
	}
	return nil
}

// consumerLeader waits until the durable consumer has a leader, which
// answers its info and its fetches (a consumer of a single server always
// has).
func consumerLeader(ctx context.Context, js jetstream.JetStream, stream, name string, logger *slog.Logger) error {
	err := retry(ctx, logger, "waiting for the consumer's leader", []any{"stream", stream, "consumer", name}, func(ctx context.Context) (bool, error) {
		c, err := js.Consumer(ctx, stream, name)
		if err != nil {
			return false, err
		}
		return led(c.CachedInfo().Cluster)
	})
	if err != nil {
		return fmt.Errorf("consumer %s: leader: %w", name, err)
	}
	return nil
}

// led reports whether c, the cluster of a stream or consumer, has a
// leader (nil, a single server's, always has); errNotYet while it has not.
func led(c *jetstream.ClusterInfo) (bool, error) {
	if c != nil && c.Leader == "" {
		return false, fmt.Errorf("%w: no leader", errNotYet)
	}
	return true, nil
}

// Do runs fn until it succeeds, returns an error that waiting does not
// mend (see Retryable), or ctx ends; each run is bounded, and a wait
// that lasts is logged as what. fn must be safe to run again.
func Do(ctx context.Context, logger *slog.Logger, what string, fn func(context.Context) error) error {
	return retry(ctx, orDiscard(logger), what, nil, func(ctx context.Context) (bool, error) {
		err := fn(ctx)
		return err == nil, err
	})
}

// LookupConsumer returns the durable consumer name of stream, asking
// again while a cluster leaves the request unanswered or is electing the
// consumer's leader, until ctx ends: a worker starting on a busy cluster
// does not die of it.
func LookupConsumer(ctx context.Context, js jetstream.JetStream, stream, name string, logger *slog.Logger) (jetstream.Consumer, error) {
	var c jetstream.Consumer
	err := retry(ctx, orDiscard(logger), "waiting for the consumer", []any{"stream", stream, "consumer", name}, func(ctx context.Context) (bool, error) {
		var err error
		c, err = js.Consumer(ctx, stream, name)
		return err == nil, err
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	return c, nil
}

// createOrUpdateConsumer creates or updates a durable consumer and
// reports whether it did. Given several filters for a consumer that had
// one and that it loaded from its store, nats-server v2.15.2 applies them
// but answers with the config as it was, which nats.go takes for a server
// that knows no more than one filter: the config is then read back.
func createOrUpdateConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (bool, error) {
	_, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if !errors.Is(err, jetstream.ErrConsumerMultipleFilterSubjectsNotSupported) {
		return err == nil, err
	}
	c, rerr := js.Consumer(ctx, stream, cfg.Durable)
	if rerr != nil || !slices.Equal(c.CachedInfo().Config.FilterSubjects, cfg.FilterSubjects) {
		return false, err
	}
	return true, nil
}

// sameConsumer reports whether the consumer's configuration as the server
// holds it (with the server's defaults filled in) has what want sets.
func sameConsumer(have, want jetstream.ConsumerConfig) bool {
	return have.Durable == want.Durable && have.AckPolicy == want.AckPolicy &&
		have.DeliverPolicy == want.DeliverPolicy && have.MaxDeliver == want.MaxDeliver &&
		(want.AckWait == 0 || have.AckWait == want.AckWait) &&
		(want.MaxAckPending == 0 || have.MaxAckPending == want.MaxAckPending) &&
		(want.Replicas == 0 || have.Replicas == want.Replicas) &&
		have.FilterSubject == want.FilterSubject && slices.Equal(have.FilterSubjects, want.FilterSubjects)
}

// retry runs try, each run bounded by tryTimeout, until it reports done,
// returns an error that waiting does not mend, or ctx ends. While it
// retries it logs msg with attrs and the last error, from firstLog on
// every logEvery, and when it is done.
func retry(ctx context.Context, logger *slog.Logger, msg string, attrs []any, try func(context.Context) (bool, error)) error {
	start, lastLog := time.Now(), time.Time{}
	pause := firstPause
	for attempt := 1; ; attempt++ {
		tctx, cancel := context.WithTimeout(ctx, tryTimeout)
		done, err := try(tctx)
		cancel()
		if done {
			if !lastLog.IsZero() {
				logger.Info(msg+": done", append(attrs, "waited", time.Since(start).Round(time.Millisecond))...)
			}
			return nil
		}
		if err != nil && !Retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (last: %v)%s", msg, ctx.Err(), err, hint(err))
		}
		if waited := time.Since(start); waited >= firstLog && time.Since(lastLog) >= logEvery {
			lastLog = time.Now()
			more := []any{"attempt", attempt, "waited", waited.Round(time.Millisecond), "last_error", errString(err)}
			if h := hint(err); h != "" {
				more = append(more, "hint", strings.TrimPrefix(h, "; "))
			}
			logger.Info(msg, append(attrs, more...)...)
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last: %v)%s", msg, ctx.Err(), err, hint(err))
		}
		pause = min(2*pause, maxPause)
	}
}

// hint is what to do about an error that waiting may never mend, for the
// log and the error a start that timed out returns ("" for the others).
func hint(err error) string {
	var jsErr jetstream.JetStreamError
	if !errors.As(err, &jsErr) || jsErr.APIError() == nil {
		return ""
	}
	switch jsErr.APIError().ErrorCode {
	case codeNoPeers, codeInsufficient:
		return "; a stream needs as many JetStream servers as its replicas (--replicas, 3 in a cluster): " +
			"start the other nodes, or set --replicas to the number of nodes (3 or more survive the loss of one; 2 survive none)"
	}
	return ""
}

// Retryable reports whether err is what a JetStream cluster answers while
// it starts, elects leaders or learns its peers, or the silence of a
// request that went unanswered: worth asking again.
func Retryable(err error) bool {
	// ErrJetStreamNotEnabled is how nats.go's AccountInfo reports no
	// responders: JetStream is still starting on the server.
	if errors.Is(err, errNotYet) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrJetStreamNotEnabled) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) {
		return true
	}
	var jsErr jetstream.JetStreamError
	if !errors.As(err, &jsErr) || jsErr.APIError() == nil {
		return false
	}
	switch jsErr.APIError().ErrorCode {
	case codeNoPeers, codeNotAvailable, codeNotLeader, codeInsufficient, codeStreamOffline, codeConsumerOff:
		return true
	}
	return false
}

func orDiscard(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return logger
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
