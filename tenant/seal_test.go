package tenant

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/internal/secretbox"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/signing"
)

// sealBundle is a tenant stream on a real JetStream, and views of it that
// tests start, stop and compare.
type sealBundle struct {
	t   *testing.T
	js  jetstream.JetStream
	now time.Time
}

func newSealBundle(t *testing.T) *sealBundle {
	t.Helper()
	js, _ := testenv.StartJetStream(t)
	if _, err := js.CreateOrUpdateStream(context.Background(), StreamConfig(1)); err != nil {
		t.Fatal(err)
	}
	return &sealBundle{t: t, js: js, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (b *sealBundle) clock() time.Time { return b.now }

// view is a tenant view in its own file, fed by a projector while it runs.
type view struct {
	b       *sealBundle
	path    string
	db      *bolt.DB
	store   *Store
	service *Service // publishes, and waits for this view
	stop    func()
}

// newView opens a new view file with keys and runs its projector until
// it has caught up.
func (b *sealBundle) newView(keys *secretbox.Keyring) *view {
	b.t.Helper()
	v := &view{b: b, path: filepath.Join(b.t.TempDir(), "view.db")}
	db, err := bolt.Open(v.path, 0o600, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { db.Close() })
	v.db = db
	v.run(keys)
	return v
}

// run starts the view's projector with a store of keys, and waits until it
// has caught up with the stream.
func (v *view) run(keys *secretbox.Keyring) {
	v.b.t.Helper()
	if v.stop != nil {
		v.stop()
	}
	v.store = NewStore(v.db, keys, v.b.clock)
	proj := projector.New(v.b.js, v.db, Stream, v.store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = proj.Run(ctx) }()
	v.stop = func() { cancel(); <-done; v.stop = nil }
	v.b.t.Cleanup(func() {
		if v.stop != nil {
			v.stop()
		}
	})
	select {
	case <-proj.Ready():
	case <-time.After(testenv.GiveUpAfter):
		v.b.t.Fatal("the view did not catch up")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
	defer wcancel()
	if err := proj.CatchUp(wctx); err != nil {
		v.b.t.Fatal(err)
	}
	v.service = NewService(v.b.js, v.store, proj, v.b.clock)
}

// snapshot is everything the view answers about the tenants, secrets
// opened.
func (v *view) snapshot(tenantIDs ...string) string {
	v.b.t.Helper()
	var out bytes.Buffer
	for _, id := range tenantIDs {
		t, err := v.store.Get(id)
		if err != nil {
			v.b.t.Fatalf("tenant %s: %v", id, err)
		}
		secrets, err := v.store.SigningSecrets(id)
		if err != nil {
			v.b.t.Fatalf("tenant %s's secrets: %v", id, err)
		}
		data, _ := json.Marshal(struct {
			Tenant  any
			Secrets []signing.Secret
		}{t, secrets})
		out.Write(append(data, '\n'))
	}
	return out.String()
}

// legacyTenant publishes, as a version from before sealing did, a tenant's
// creation with its secret in plain text, and returns its credentials.
func (b *sealBundle) legacyTenant(name string) (Credentials, signing.Secret) {
	b.t.Helper()
	id := NewTenantID()
	secret, _ := signing.NewSecret(rand.Reader)
	key, keyID := newAPIKey()
	b.publish(id, kindCreated, event{At: b.now, Name: name, Secret: secret, Key: newKeyEvent(key, keyID, "default")})
	return Credentials{TenantID: id, APIKey: key, SigningSecret: secret.String()}, secret
}

// legacyRotation publishes a secret rotation as a version from before
// sealing did and returns the new secret.
func (b *sealBundle) legacyRotation(tenantID string) signing.Secret {
	b.t.Helper()
	secret, _ := signing.NewSecret(rand.Reader)
	b.publish(tenantID, kindSecretRotated, event{At: b.now, Secret: secret, Overlap: 24 * time.Hour})
	return secret
}

func (b *sealBundle) publish(tenantID, kind string, ev event) uint64 {
	b.t.Helper()
	data, _ := json.Marshal(ev)
	ack, err := b.js.PublishMsg(context.Background(), &nats.Msg{Subject: "tenant." + tenantID + "." + kind, Data: data})
	if err != nil {
		b.t.Fatal(err)
	}
	return ack.Sequence
}

// otherEvents publishes events that carry no secret: a key, its use, its
// revocation, limits.
func (b *sealBundle) otherEvents(tenantID string) {
	b.t.Helper()
	key, keyID := newAPIKey()
	b.publish(tenantID, kindKeyCreated, event{At: b.now, Key: newKeyEvent(key, keyID, "ci")})
	b.publish(tenantID, kindKeyUsed, event{At: b.now.Add(time.Minute), KeyID: keyID})
	b.publish(tenantID, kindLimitsUpdated, event{At: b.now, Limits: &Limits{CreateRate: 7}})
	b.publish(tenantID, kindKeyRevoked, event{At: b.now.Add(time.Hour), KeyID: keyID})
}

// assertNowhere fails if data holds any form of any of secrets.
func assertNowhere(t *testing.T, where string, data []byte, secrets ...[]byte) {
	t.Helper()
	if i, form, found := testenv.FindSecret(data, secrets...); found {
		t.Fatalf("%s holds secret %d (%q)", where, i, form)
	}
}

// rawStream returns every message of a stream as an attacker with the
// NATS port reads it: subjects, headers and payloads.
func (b *sealBundle) rawStream(name string) []byte {
	b.t.Helper()
	ctx := context.Background()
	s, err := b.js.Stream(ctx, name)
	if err != nil {
		b.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	var out bytes.Buffer
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			b.t.Fatal(err)
		}
		fmt.Fprintf(&out, "%s %v %s\n", m.Subject, m.Header, m.Data)
	}
	return out.Bytes()
}

// secretEvents returns the payloads of the stream's events that hold a
// secret.
func (b *sealBundle) sealedSecrets() []string {
	b.t.Helper()
	var out []string
	err := scanStream(b.js, secretSubjects, func(m jetstream.Msg) {
		var ev event
		_ = json.Unmarshal(m.Data(), &ev)
		out = append(out, ev.Sealed)
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

func scanStream(js jetstream.JetStream, filters []string, fn func(jetstream.Msg)) error {
	ctx := context.Background()
	stream, err := js.Stream(ctx, Stream)
	if err != nil {
		return err
	}
	return scan(ctx, stream, filters, func(m jetstream.Msg, _ uint64) error { fn(m); return nil })
}

func mustKeys(t *testing.T, keys ...string) *secretbox.Keyring {
	t.Helper()
	k, err := secretbox.Parse(strings.Join(keys, ","))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := secretbox.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func reseal(t *testing.T, js jetstream.JetStream, keys *secretbox.Keyring) {
	t.Helper()
	if err := Reseal(context.Background(), js, keys, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("reseal: %v", err)
	}
}

// TestSecretsAreSealed: the stream, the view (its records and its file)
// and the config bucket hold no form of a signing secret or of the token
// key; the view still signs with them.
func TestSecretsAreSealed(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	keys := mustKeys(t, newKey(t))
	v := b.newView(keys)
	service := v.service
	ctx := context.Background()
	var secrets [][]byte
	var ids []string
	for _, name := range []string{"acme", "globex"} {
		creds, err := service.Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := signing.ParseSecret(creds.SigningSecret)
		secrets, ids = append(secrets, s), append(ids, creds.TenantID)
	}
	rotated, err := service.RotateSecret(ctx, ids[0], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rotated)
	tokenKey, err := LoadTokenKey(ctx, b.js, 1, keys)
	if err != nil {
		t.Fatal(err)
	}

	got, _ := v.store.SigningSecrets(ids[0])
	if len(got) != 2 || !bytes.Equal(got[0], rotated) || !bytes.Equal(got[1], secrets[0]) {
		t.Fatalf("signing secrets: got %v, want the rotated one then the first", got)
	}
	assertNowhere(t, "the tenant stream", b.rawStream(Stream), secrets...)
	assertNowhere(t, "the config stream", b.rawStream(configStream), tokenKey)
	if err := v.db.Sync(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(v.path)
	if err != nil {
		t.Fatal(err)
	}
	assertNowhere(t, "the view file", file, secrets...)
	for _, sealed := range b.sealedSecrets() {
		if id, ok := secretbox.SealedWith(sealed); !ok || id != keys.Current() {
			t.Fatalf("an event's secret %q is not sealed with the key", sealed)
		}
	}
}

// TestSealedSecretsStayWithTheirTenant: a sealed secret copied into
// another tenant's event (by someone who can write to the stream) does not
// open there: that tenant cannot be made to sign with it.
func TestSealedSecretsStayWithTheirTenant(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	keys := mustKeys(t, newKey(t))
	v := b.newView(keys)
	service := v.service
	ctx := context.Background()
	victim, err := service.Create(ctx, "victim")
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := service.Create(ctx, "attacker")
	if err != nil {
		t.Fatal(err)
	}
	stolen := b.sealedSecrets()[0]
	data, _ := json.Marshal(event{At: b.now, Sealed: stolen, Overlap: 0})
	if _, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: "tenant." + attacker.TenantID + "." + kindSecretRotated, Data: data}); err != nil {
		t.Fatal(err)
	}
	v.run(keys)
	if got, err := v.store.SigningSecrets(attacker.TenantID); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("the attacker's secrets after the swap: got %v, %v; want ErrOpen", got, err)
	}
	if got, err := v.store.SigningSecrets(victim.TenantID); err != nil || len(got) != 1 || got[0].String() != victim.SigningSecret {
		t.Fatalf("the victim's secrets: %v %v", got, err)
	}
	// A node refuses to start on such a stream rather than sign with it.
	var stream, _ = b.js.Stream(ctx, Stream)
	if _, err := staleSecrets(ctx, stream, keys); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("the start-up check: got %v, want ErrOpen", err)
	}
}

// TestResealMigratesPlainSecrets: a stream and a view from before sealing
// hold secrets in plain text. After Reseal and ResealView, neither holds
// any, the live view and a view rebuilt from the stream answer the same as
// before, and a second Reseal changes nothing.
func TestResealMigratesPlainSecrets(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	keys := mustKeys(t, newKey(t))
	acme, s1 := b.legacyTenant("acme")
	b.otherEvents(acme.TenantID)
	s2 := b.legacyRotation(acme.TenantID)
	globex, s3 := b.legacyTenant("globex")
	ids := []string{acme.TenantID, globex.TenantID}
	live := b.newView(keys)
	before := live.snapshot(ids...)
	live.stop()

	reseal(t, b.js, keys)
	assertNowhere(t, "the resealed stream", b.rawStream(Stream), s1, s2, s3)
	if sealed, plain, err := live.store.ResealView(); err != nil || sealed != 3 || plain != 3 {
		t.Fatalf("ResealView: %d sealed, %d were plain, %v; want 3, 3", sealed, plain, err)
	}
	live.run(keys)
	rebuilt := b.newView(keys)
	for name, got := range map[string]string{"live view": live.snapshot(ids...), "rebuilt view": rebuilt.snapshot(ids...)} {
		if got != before {
			t.Errorf("%s after resealing:\n%s\nwant\n%s", name, got, before)
		}
	}
	if p, err := live.store.Authenticate(context.Background(), acme.APIKey); err != nil || p.TenantID != acme.TenantID {
		t.Errorf("acme's key after resealing: %v %v", p, err)
	}

	stream, _ := b.js.Stream(context.Background(), Stream)
	info, _ := stream.Info(context.Background())
	reseal(t, b.js, keys)
	again, _ := stream.Info(context.Background())
	if again.State.LastSeq != info.State.LastSeq {
		t.Fatalf("a second reseal rewrote the stream: last sequence %d, was %d", again.State.LastSeq, info.State.LastSeq)
	}
}

// TestRotateTheSecretKey: from key A, rotate to B,A (the stream, the view
// and the token key are sealed again with B), then run with B alone.
func TestRotateTheSecretKey(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	ctx := context.Background()
	keyA, keyB := newKey(t), newKey(t)
	a, ba, onlyB := mustKeys(t, keyA), mustKeys(t, keyB, keyA), mustKeys(t, keyB)
	live := b.newView(a)
	service := live.service
	creds, err := service.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := service.RotateSecret(ctx, creds.TenantID, time.Hour); err != nil {
		t.Fatal(err)
	}
	tokenKey, err := LoadTokenKey(ctx, b.js, 1, a)
	if err != nil {
		t.Fatal(err)
	}
	before := live.snapshot(creds.TenantID)
	live.stop()

	// B,A: everything sealed with A is sealed again with B.
	reseal(t, b.js, ba)
	if sealed, plain, err := NewStore(live.db, ba, nil).ResealView(); err != nil || sealed != 2 || plain != 0 {
		t.Fatalf("ResealView with B,A: %d, %d, %v; want 2 sealed, none plain", sealed, plain, err)
	}
	if got, err := LoadTokenKey(ctx, b.js, 1, ba); err != nil || !bytes.Equal(got, tokenKey) {
		t.Fatalf("the token key with B,A: %v; want the same key", err)
	}
	for _, sealed := range b.sealedSecrets() {
		if id, _ := secretbox.SealedWith(sealed); id != onlyB.Current() {
			t.Fatalf("a secret still sealed with %s after the rotation", id)
		}
	}
	if raw := b.rawStream(configStream); bytes.Contains(raw, []byte("sb1."+a.Current())) || !bytes.Contains(raw, []byte("sb1."+ba.Current())) {
		t.Fatalf("the config stream after the rotation holds the token key sealed with A, or not with B:\n%s", raw)
	}

	// B alone: the live view, a rebuilt view and the token key all work;
	// A alone no longer opens anything.
	live.run(onlyB)
	rebuilt := b.newView(onlyB)
	for name, got := range map[string]string{"live view": live.snapshot(creds.TenantID), "rebuilt view": rebuilt.snapshot(creds.TenantID)} {
		if got != before {
			t.Errorf("%s with B alone:\n%s\nwant\n%s", name, got, before)
		}
	}
	if got, err := LoadTokenKey(ctx, b.js, 1, onlyB); err != nil || !bytes.Equal(got, tokenKey) {
		t.Fatalf("the token key with B alone: %v", err)
	}
	var unknown *secretbox.UnknownKeyError
	if err := Reseal(ctx, b.js, a, slog.New(slog.NewTextHandler(io.Discard, nil))); !errors.As(err, &unknown) {
		t.Errorf("Reseal with A alone: got %v, want UnknownKeyError", err)
	}
	if _, err := LoadTokenKey(ctx, b.js, 1, a); !errors.As(err, &unknown) {
		t.Errorf("LoadTokenKey with A alone: got %v, want UnknownKeyError", err)
	}
	if _, _, err := NewStore(b.newViewFile(t), a, nil).ResealView(); err != nil {
		t.Errorf("ResealView of an empty view: %v", err)
	}
}

func (b *sealBundle) newViewFile(t *testing.T) *bolt.DB {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestTokenKeyMigrates: a token key stored in plain text before sealing is
// kept (tokens issued before stay valid), sealed, and erased.
func TestTokenKeyMigrates(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	ctx := context.Background()
	kv, err := b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: configBucket, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("0123456789abcdef0123456789abcdef")
	if _, err := kv.Create(ctx, tokenKeyName, plain); err != nil {
		t.Fatal(err)
	}
	keys := mustKeys(t, newKey(t))
	got, err := LoadTokenKey(ctx, b.js, 1, keys)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("LoadTokenKey: %q %v; want the stored key", got, err)
	}
	assertNowhere(t, "the config stream", b.rawStream(configStream), plain)
	if _, err := b.js.KeyValue(ctx, configBucket); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Fatalf("the old bucket with the plain key: got %v, want it deleted", err)
	}
	if again, err := LoadTokenKey(ctx, b.js, 1, keys); err != nil || !bytes.Equal(again, plain) {
		t.Fatalf("second LoadTokenKey: %v", err)
	}
}

// TestTokenKeyAgreedUnderRace: nodes starting at once with the same key
// agree on one token key; one with another key refuses.
func TestTokenKeyAgreedUnderRace(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	keys := mustKeys(t, newKey(t))
	got := make(chan []byte, 8)
	for range 8 {
		go func() {
			k, err := LoadTokenKey(context.Background(), b.js, 1, keys)
			if err != nil {
				t.Error(err)
			}
			got <- k
		}()
	}
	first := <-got
	for range 7 {
		if k := <-got; !bytes.Equal(k, first) {
			t.Fatal("two nodes got different token keys")
		}
	}
	var unknown *secretbox.UnknownKeyError
	if _, err := LoadTokenKey(context.Background(), b.js, 1, mustKeys(t, newKey(t))); !errors.As(err, &unknown) {
		t.Fatalf("another key: got %v, want UnknownKeyError", err)
	}
}

// TestResealWithAViewBehind: a view that stopped partway applies, after
// the rewrite, the copies of exactly the events it had not seen.
func TestResealWithAViewBehind(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	keys := mustKeys(t, newKey(t))
	acme, _ := b.legacyTenant("acme")
	behind := b.newView(keys)
	behind.stop()
	b.otherEvents(acme.TenantID)
	b.legacyRotation(acme.TenantID)
	globex, _ := b.legacyTenant("globex")
	b.otherEvents(globex.TenantID)
	ids := []string{acme.TenantID, globex.TenantID}
	want := b.newView(keys).snapshot(ids...)

	reseal(t, b.js, keys)
	behind.run(keys)
	if got := behind.snapshot(ids...); got != want {
		t.Fatalf("the view that was behind:\n%s\nwant\n%s", got, want)
	}
}

// TestResealInterrupted: a rewrite stopped while deleting the originals
// (a crash) leaves a stream every view reads right, and the next Reseal
// finishes it.
func TestResealInterrupted(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	ctx := context.Background()
	keys := mustKeys(t, newKey(t))
	var ids []string
	var secrets [][]byte
	for _, name := range []string{"a", "b", "c"} {
		creds, s := b.legacyTenant(name)
		b.otherEvents(creds.TenantID)
		ids, secrets = append(ids, creds.TenantID), append(secrets, s, b.legacyRotation(creds.TenantID))
	}
	live := b.newView(keys)
	want := live.snapshot(ids...)
	stream, _ := b.js.Stream(ctx, Stream)

	// Each round is a rewrite that crashes after deleting some of the
	// originals: none of them, a few, most.
	for _, deletions := range []int{0, 4, 15} {
		crashing := &crashingStream{Stream: stream, left: deletions}
		if _, err := rewrite(ctx, b.js, crashing, keys); !errors.Is(err, errCrash) {
			t.Fatalf("the rewrite that crashes after %d deletions: %v", deletions, err)
		}
		if got := b.newView(keys).snapshot(ids...); got != want {
			t.Fatalf("a view rebuilt after a rewrite stopped after %d deletions:\n%s\nwant\n%s", deletions, got, want)
		}
	}
	reseal(t, b.js, keys)
	assertNowhere(t, "the stream after the finished rewrite", b.rawStream(Stream), secrets...)
	live.run(keys)
	for name, v := range map[string]*view{"live": live, "rebuilt": b.newView(keys)} {
		if got := v.snapshot(ids...); got != want {
			t.Fatalf("the %s view after the finished rewrite:\n%s\nwant\n%s", name, got, want)
		}
	}
	var copies int
	_ = scanStream(b.js, nil, func(m jetstream.Msg) {
		if m.Headers().Get(headerOrigin) != "" {
			copies++
		}
	})
	if total := len(ids) * 6; copies != total {
		t.Fatalf("the stream holds %d copies, want one of each of the %d events", copies, total)
	}
}

// crashingStream wraps the real stream: after left deletions, deleting
// fails, as if the process had stopped there.
type crashingStream struct {
	jetstream.Stream
	left int
}

var errCrash = errors.New("crashed")

func (s *crashingStream) DeleteMsg(ctx context.Context, seq uint64) error {
	if s.left == 0 {
		return errCrash
	}
	s.left--
	return s.Stream.DeleteMsg(ctx, seq)
}

func (s *crashingStream) SecureDeleteMsg(ctx context.Context, seq uint64) error {
	if s.left == 0 {
		return errCrash
	}
	s.left--
	return s.Stream.SecureDeleteMsg(ctx, seq)
}

// TestResealFinishesAnInterruptedRotation: a rotation's rewrite crashed
// after deleting the only events sealed with the old key; the next start
// still finds the rewrite unfinished (copies next to their originals) and
// finishes it.
func TestResealFinishesAnInterruptedRotation(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	ctx := context.Background()
	keyA, keyB := newKey(t), newKey(t)
	ba := mustKeys(t, keyB, keyA)
	v := b.newView(ba)
	first, err := v.service.Create(ctx, "sealed with B")
	if err != nil {
		t.Fatal(err)
	}
	v.run(mustKeys(t, keyA))
	second, err := v.service.Create(ctx, "sealed with A")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{first.TenantID, second.TenantID}
	want := b.newView(ba).snapshot(ids...)
	stream, _ := b.js.Stream(ctx, Stream)
	if _, err := rewrite(ctx, b.js, &crashingStream{Stream: stream, left: 1}, ba); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	reseal(t, b.js, ba)
	var copies int
	_ = scanStream(b.js, nil, func(jetstream.Msg) { copies++ })
	if copies != 2 {
		t.Fatalf("the stream holds %d events after the second reseal, want the 2 copies", copies)
	}
	if got := b.newView(ba).snapshot(ids...); got != want {
		t.Fatalf("rebuilt:\n%s\nwant\n%s", got, want)
	}
}

// TestConcurrentRewrites: two nodes rewrite at once, their deletions
// interleaved; a view rebuilt at any point, and a running one, see each
// event once and in order.
func TestConcurrentRewrites(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	ctx := context.Background()
	keys := mustKeys(t, newKey(t))
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		creds, _ := b.legacyTenant(name)
		b.otherEvents(creds.TenantID)
		b.legacyRotation(creds.TenantID)
		ids = append(ids, creds.TenantID)
	}
	live := b.newView(keys)
	want := live.snapshot(ids...)
	stream, _ := b.js.Stream(ctx, Stream)
	check := func(when string) {
		t.Helper()
		if got := b.newView(keys).snapshot(ids...); got != want {
			t.Fatalf("a view rebuilt %s:\n%s\nwant\n%s", when, got, want)
		}
	}

	one, err := copyAll(ctx, b.js, stream, keys)
	if err != nil {
		t.Fatal(err)
	}
	crash := &crashingStream{Stream: stream, left: 5}
	if err := deleteNewestFirst(ctx, crash, one.present, one.secret, one.first, one.last); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	check("while node one deletes")
	two, err := copyAll(ctx, b.js, stream, keys)
	if err != nil {
		t.Fatal(err)
	}
	if two.copied != len(ids)*6 {
		t.Fatalf("node two copied %d events, want each of the %d once", two.copied, len(ids)*6)
	}
	check("after node two copied")
	crash = &crashingStream{Stream: stream, left: 20}
	if err := deleteNewestFirst(ctx, crash, two.present, two.secret, two.first, two.last); !errors.Is(err, errCrash) {
		t.Fatal(err)
	}
	check("while both delete")
	if err := deleteNewestFirst(ctx, stream, one.present, one.secret, one.first, one.last); err != nil {
		t.Fatal(err)
	}
	check("after node one finished")
	if err := deleteNewestFirst(ctx, stream, two.present, two.secret, two.first, two.last); err != nil {
		t.Fatal(err)
	}
	check("after both finished")
	live.run(keys)
	if got := live.snapshot(ids...); got != want {
		t.Fatalf("the running view:\n%s\nwant\n%s", got, want)
	}
}

// interleaving wraps the real JetStream: before the copy numbered at, it
// publishes another event, as another node would.
type interleaving struct {
	jetstream.JetStream
	calls, at int
	inject    func()
}

func (j *interleaving) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	j.calls++
	if j.calls == j.at {
		j.inject()
	}
	return j.JetStream.PublishMsgAsync(m, opts...)
}

// TestResealAfterAnotherNodeWrote: a write from another node in the middle
// of the copies makes the rewrite start again; nothing is lost or applied
// twice.
func TestResealAfterAnotherNodeWrote(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	keys := mustKeys(t, newKey(t))
	acme, s1 := b.legacyTenant("acme")
	b.otherEvents(acme.TenantID)
	live := b.newView(keys)
	live.stop()
	keyID := live.store.mustTenant(t, acme.TenantID).Keys[0].ID
	used := b.now.Add(48 * time.Hour)
	js := &interleaving{JetStream: b.js, at: 3, inject: func() {
		b.publish(acme.TenantID, kindKeyUsed, event{At: used, KeyID: keyID})
	}}
	reseal(t, js, keys)
	if js.calls <= 6 {
		t.Fatalf("%d copies published: the rewrite did not start again", js.calls)
	}
	assertNowhere(t, "the stream", b.rawStream(Stream), s1)
	live.run(keys)
	rebuilt := b.newView(keys)
	want := live.snapshot(acme.TenantID)
	if got := rebuilt.snapshot(acme.TenantID); got != want {
		t.Fatalf("rebuilt:\n%s\nwant\n%s", got, want)
	}
	k := live.store.mustTenant(t, acme.TenantID).Keys[0]
	if k.LastUsedAt == nil || !k.LastUsedAt.Equal(used) {
		t.Fatalf("the other node's event: key last used %v, want %v", k.LastUsedAt, used)
	}
}

func (s *Store) mustTenant(t *testing.T, id string) *Tenant {
	t.Helper()
	tn, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return tn
}

// TestResealKeepsSessions: a rewrite keeps ended sessions ended (in a
// running and in a rebuilt view) and used sign-in links used (their
// subjects are not emptied, their time to live is kept).
func TestResealKeepsSessions(t *testing.T) {
	t.Parallel()
	b := newSealBundle(t)
	ctx := context.Background()
	keyA, keyB := newKey(t), newKey(t)
	live := b.newView(mustKeys(t, keyA))
	creds, err := live.service.Create(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	tokens := NewTokens(make([]byte, 32), 0, b.clock)
	_, ended, _ := tokens.IssueSession(Principal{TenantID: creds.TenantID})
	if err := live.service.EndSession(ctx, creds.TenantID, ended.ID, ended.EndsAt); err != nil {
		t.Fatal(err)
	}
	_, link, _ := tokens.IssueSignInLink(creds.TenantID)
	if err := live.service.UseSignInLink(ctx, link); err != nil {
		t.Fatal(err)
	}
	live.stop()

	ba := mustKeys(t, keyB, keyA)
	reseal(t, b.js, ba)
	live.run(ba)
	for name, v := range map[string]*view{"running": live, "rebuilt": b.newView(ba)} {
		if active, err := v.store.SessionActive(context.Background(), ended); err != nil || active {
			t.Errorf("%s view: the ended session is active again (%v)", name, err)
		}
	}
	if err := live.service.UseSignInLink(ctx, link); !errors.Is(err, ErrLinkUsed) {
		t.Fatalf("the used link after the rewrite: got %v, want ErrLinkUsed", err)
	}
	var ttls int
	_ = scanStream(b.js, nil, func(m jetstream.Msg) {
		if m.Headers().Get(headerOrigin) == "" {
			t.Errorf("an original survived the rewrite: %s", m.Subject())
		}
		if m.Headers().Get(jetstream.MsgTTLHeader) != "" {
			ttls++
		}
	})
	if ttls != 2 {
		t.Fatalf("%d copies keep a time to live, want the session's and the link's", ttls)
	}
}
