package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/internal/viewfile"
	"github.com/boomerang-dev/boomerang/tenant"
)

// This file wires the node's own secrets: the keys that seal the signing
// secrets and the token key (--secret-key, or a key made in the data dir),
// and the credentials of NATS (the embedded client port's user, and how
// --nats-url connects).

// Files in the data dir, readable by their owner only.
const (
	secretKeyFile  = "secret-key"     // the secret key, when --secret-key is not given
	clientNkeyFile = "nats-client.nk" // the seed of the embedded client port's user
)

// checkSecretFlags checks the secret key and the NATS credentials the
// flags give, without showing them in its errors.
func (m *Main) checkSecretFlags() error {
	c := m.Config
	switch {
	case (c.NatsUser == "") != (c.NatsPassword == ""):
		return errors.New("--nats-user and --nats-password go together")
	case c.NatsPort < 0 || c.NatsPort > 65535:
		return fmt.Errorf("--nats-port %d: want 1-65535, or 0 for none", c.NatsPort)
	case c.NatsURL != "" && c.NatsPort != 0:
		return errors.New("--nats-port opens the embedded server, which --nats-url replaces: give one of them")
	case c.NatsURL == "" && c.NatsCreds != "":
		return errors.New("--nats-creds is how --nats-url connects; the embedded server's port takes --nats-nkey or --nats-user")
	}
	if c.SecretKey != "" {
		keys, err := secretbox.Parse(c.SecretKey)
		if err != nil {
			return fmt.Errorf("--secret-key: %w", err)
		}
		m.secretKeys = keys
	}
	if c.NatsURL == "" {
		return nil
	}
	if c.NatsUser != "" {
		m.natsAuth = append(m.natsAuth, nats.UserInfo(c.NatsUser, c.NatsPassword))
	}
	if c.NatsNkey != "" {
		opt, err := nats.NkeyOptionFromSeed(c.NatsNkey)
		if err != nil {
			return fmt.Errorf("--nats-nkey: %w", err)
		}
		m.natsAuth = append(m.natsAuth, opt)
	}
	if c.NatsCreds != "" {
		m.natsAuth = append(m.natsAuth, nats.UserCredentials(c.NatsCreds))
	}
	return nil
}

// loadSecretKeys loads the secret keys: --secret-key's, else the key kept
// in the data dir, made on the first start.
func (m *Main) loadSecretKeys() error {
	if m.secretKeys != nil {
		m.Logger.Info("secret keys from --secret-key", "sealing_key_id", m.secretKeys.Current(), "key_ids", m.secretKeys.IDs())
		return nil
	}
	path := filepath.Join(m.Config.DataDir, secretKeyFile)
	keys, created, err := secretbox.LoadFile(path)
	if err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	if created {
		m.Logger.Warn("made a secret key to seal the signing secrets and the token key: keep a copy apart from the data; every node of a cluster needs the same (--secret-key)",
			"path", path, "key_id", keys.Current())
	} else {
		m.Logger.Info("secret keys from the data dir", "path", path, "sealing_key_id", keys.Current(), "key_ids", keys.IDs())
	}
	m.secretKeys = keys
	return nil
}

// clientPortUser sets the nkey user the embedded client port admits, when
// there is a port: --nats-nkey's, none when --nats-user is the port's user,
// else the one whose seed is kept in the data dir, made on the first
// start. It returns the seed file's path.
func (m *Main) clientPortUser(cfg *natsembed.Config) (string, error) {
	c := m.Config
	if c.NatsPort == 0 || (c.NatsNkey == "" && c.NatsUser != "") {
		return "", nil
	}
	path := c.NatsNkey
	if path == "" {
		path = filepath.Join(c.DataDir, clientNkeyFile)
		if err := makeUserSeed(path); err != nil {
			return "", err
		}
	}
	pub, err := userPublicKey(path)
	if err != nil {
		return "", err
	}
	cfg.ClientNkey = pub
	return path, nil
}

// makeUserSeed writes a new user's nkey seed to path, readable by its
// owner only, unless the file exists.
func makeUserSeed(path string) error {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return fmt.Errorf("nats client user: %w", err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return fmt.Errorf("nats client user: %w", err)
	}
	err = secretbox.WritePrivateFile(path, string(seed)+"\n")
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("nats client user: %w", err)
	}
	return nil
}

// userPublicKey returns the public key of the user whose seed is in the
// file at path.
func userPublicKey(path string) (string, error) {
	text, err := secretbox.ReadPrivateFile(path)
	if err != nil {
		return "", fmt.Errorf("nats client user: %w", err)
	}
	kp, err := nkeys.ParseDecoratedNKey([]byte(text))
	if err != nil {
		return "", fmt.Errorf("nats client user: %s holds no nkey seed", path)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("nats client user: %s holds no user's seed", path)
	}
	return pub, nil
}

// sealSecrets makes the stream and the view hold every signing secret
// sealed with the current secret key (tenant.Reseal, Store.ResealView),
// before the tenant projector starts. A view that held them in plain text,
// from before they were sealed, is rebuilt from the stream so that no copy
// stays in its free pages.
func (m *Main) sealSecrets(ctx context.Context) error {
	if err := tenant.Reseal(ctx, m.js, m.secretKeys, m.Logger); err != nil {
		return withKeyHint(err)
	}
	resealed, plain, err := tenant.NewStore(m.viewFile.DB, m.secretKeys, nil).ResealView()
	if err != nil {
		return withKeyHint(err)
	}
	if plain == 0 {
		if resealed > 0 {
			m.Logger.Info("sealed the view's signing secrets with the current secret key", "secrets", resealed)
		}
		return nil
	}
	m.Logger.Warn("the view held signing secrets in plain text, from before they were sealed: rebuilding it from the stream")
	path := filepath.Join(m.Config.DataDir, "view.db")
	if err := m.viewFile.Close(); err != nil {
		return err
	}
	m.viewFile = nil
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	m.viewFile, err = viewfile.Open(path, m.Logger)
	return err
}

// withKeyHint adds to an error about a secret sealed with an unknown key
// what the operator can do.
func withKeyHint(err error) error {
	var unknown *secretbox.UnknownKeyError
	if !errors.As(err, &unknown) {
		return err
	}
	return fmt.Errorf("%w; start with the secret key the store was sealed with: --secret-key (or BOOMERANG_SECRET_KEY, or %s in the data dir), "+
		"the same on every node; while rotating, give NEW,OLD", err, secretKeyFile)
}
