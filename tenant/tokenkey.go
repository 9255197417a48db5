package tenant

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/jsensure"
	"github.com/boomerang-dev/boomerang/internal/secretbox"
)

// The token-signing key is the one message on tokenKeySubject in the
// config stream, sealed with the operator's keys. It changes only by
// compare-and-set (the subject's last sequence), so that nodes started at
// once agree on one key, and a node with another secret key finds the key
// it cannot open and refuses to start. Stores from before sealing kept it in
// plain text in a key-value bucket (configBucket, tokenKeyName):
// LoadTokenKey moves it and deletes the bucket. A revision replaced by a
// reseal is erased: deleted, its bytes overwritten on disk (a key-value
// bucket refuses message deletes, a plain stream allows them).
const (
	configStream    = "BOOMERANG_CONFIG"
	tokenKeySubject = "config.token_key"
	tokenKeyPurpose = "token signing key"
)

// errTokenKeyRace says another node changed the token key first.
var errTokenKeyRace = errors.New("tenant: the token key changed meanwhile")

// ConfigStreamConfig returns the configuration of the stream holding the
// cluster's sealed token-signing key.
func ConfigStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        configStream,
		Description: "Boomerang cluster configuration: the sealed token-signing key",
		Subjects:    []string{"config.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
		// The revision before the last stays until it is erased.
		MaxMsgsPerSubject: 2,
	}
}

// LoadTokenKey returns the key every node signs tokens with, creating it on
// first use, sealed with keys; concurrent first starts agree on one key.
// A key sealed with another of keys is sealed again with the current one,
// and the plain one of a store from before sealing is moved and sealed;
// the old forms are erased. It returns an *secretbox.UnknownKeyError when
// the key was sealed with a key that keys lack.
func LoadTokenKey(ctx context.Context, js jetstream.JetStream, replicas int, keys *secretbox.Keyring) ([]byte, error) {
	stream, err := jsensure.Stream(ctx, js, ConfigStreamConfig(replicas), nil)
	if err != nil {
		return nil, fmt.Errorf("tenant: config stream: %w", err)
	}
	races := 0
	for {
		// Each round is bounded, and one a starting cluster leaves
		// unanswered (a leader just elected, or changing) is made again:
		// every step is safe to repeat.
		tctx, cancel := context.WithTimeout(ctx, tokenKeyTryTimeout)
		key, err := loadTokenKey(tctx, js, stream, keys)
		cancel()
		switch {
		case errors.Is(err, errTokenKeyRace):
			if races++; races == 5 {
				return nil, err
			}
		case err != nil && ctx.Err() == nil && jsensure.Retryable(err):
		default:
			return key, err
		}
		select {
		case <-time.After(tokenKeyRetryPause):
		case <-ctx.Done():
			return nil, fmt.Errorf("tenant: load token key: %w (last: %v)", ctx.Err(), err)
		}
	}
}

// How long one round of LoadTokenKey may take before it is made again, and
// the pause between rounds.
const (
	tokenKeyTryTimeout = 10 * time.Second
	tokenKeyRetryPause = 200 * time.Millisecond
)

func loadTokenKey(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream, keys *secretbox.Keyring) ([]byte, error) {
	msg, err := stream.GetLastMsgForSubject(ctx, tokenKeySubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		key, err := createTokenKey(ctx, js, keys)
		if err != nil {
			return nil, err
		}
		return key, eraseStale(ctx, js, stream)
	}
	if err != nil {
		return nil, fmt.Errorf("tenant: load token key: %w", err)
	}
	sealed := string(msg.Data)
	key, err := keys.Open(sealed, tokenKeyPurpose)
	if err != nil {
		return nil, fmt.Errorf("tenant: the token-signing key: %w", err)
	}
	if id, _ := secretbox.SealedWith(sealed); id != keys.Current() {
		if err := putTokenKey(ctx, js, keys.Seal(key, tokenKeyPurpose), msg.Sequence); err != nil {
			return nil, err
		}
	}
	return key, eraseStale(ctx, js, stream)
}

// createTokenKey stores the token key sealed: the plain one of a store
// from before sealing, else a new one.
func createTokenKey(ctx context.Context, js jetstream.JetStream, keys *secretbox.Keyring) ([]byte, error) {
	key, err := legacyTokenKey(ctx, js)
	if err != nil {
		return nil, err
	}
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	return key, putTokenKey(ctx, js, keys.Seal(key, tokenKeyPurpose), 0)
}

// legacyTokenKey returns the token key a store from before sealing kept in
// plain text, or nil.
func legacyTokenKey(ctx context.Context, js jetstream.JetStream) ([]byte, error) {
	kv, err := js.KeyValue(ctx, configBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tenant: old config bucket: %w", err)
	}
	entry, err := kv.Get(ctx, tokenKeyName)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tenant: old token key: %w", err)
	}
	return entry.Value(), nil
}

// putTokenKey stores a sealed token key if the subject's last sequence is
// still last (0: none).
func putTokenKey(ctx context.Context, js jetstream.JetStream, sealed string, last uint64) error {
	_, err := js.PublishMsg(ctx, &nats.Msg{Subject: tokenKeySubject, Data: []byte(sealed)}, jetstream.WithExpectLastSequencePerSubject(last))
	if wrongLastSequence(err) {
		return errTokenKeyRace
	}
	if err != nil {
		return fmt.Errorf("tenant: store token key: %w", err)
	}
	return nil
}

// eraseStale erases what replaced revisions of the token key and the
// plain key of a store from before sealing may have left.
func eraseStale(ctx context.Context, js jetstream.JetStream, stream jetstream.Stream) error {
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("tenant: config stream: %w", err)
	}
	for seq := info.State.FirstSeq; info.State.Msgs > 1 && seq < info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err == nil && msg.Subject == tokenKeySubject {
			err = stream.SecureDeleteMsg(ctx, seq)
		}
		if err != nil && !gone(ctx, stream, seq) {
			return fmt.Errorf("tenant: erase an old token key: %w", err)
		}
	}
	if err := js.DeleteKeyValue(ctx, configBucket); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("tenant: delete the old config bucket: %w", err)
	}
	return nil
}
