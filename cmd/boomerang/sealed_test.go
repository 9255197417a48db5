package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/natsembed"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/signing"
	"github.com/boomerang-dev/boomerang/tenant"
)

// readAllStreams reads every message of every stream through nc, as
// someone holding the NATS port reads them, and returns them as text.
func readAllStreams(t *testing.T, nc *nats.Conn) []byte {
	t.Helper()
	ctx := context.Background()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		st := s.CachedInfo().State
		for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&out, "%s %s %v %s\n", name, m.Subject, m.Header, m.Data)
		}
	}
	if names.Err() != nil {
		t.Fatal(names.Err())
	}
	if out.Len() == 0 {
		t.Fatal("read nothing: the scan would prove nothing")
	}
	return out.Bytes()
}

// tokenKey returns the token-signing key the node uses.
func (n *testNode) tokenKey(t *testing.T) []byte {
	t.Helper()
	key, err := tenant.LoadTokenKey(context.Background(), n.js, 1, n.secretKeys)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func rawSecret(t *testing.T, text string) []byte {
	t.Helper()
	s, err := signing.ParseSecret(text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNATSPortNeedsCredentials: the embedded client port listens on
// 127.0.0.1, refuses connections without the user the node made, and what
// that user reads holds no signing secret and no token key: a token
// signed with what the config stream holds is refused.
func TestNATSPortNeedsCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, port, _ := strings.Cut(freeAddr(t), ":")
	node := mustRunMainIn(t, dir, "--nats-port", port)
	client, creds := node.tenantClient(t, "acme")
	createTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "retries": 0})

	addr := node.embedded.Addr().String()
	if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
		t.Fatalf("the client port listens on %s, want 127.0.0.1", addr)
	}
	seedFile := filepath.Join(dir, clientNkeyFile)
	if info, err := os.Stat(seedFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the port user's seed file: %v %v, want mode 0600", err, info)
	}
	seed, _ := os.ReadFile(seedFile)
	if !strings.Contains(node.Log.String(), seedFile) || strings.Contains(node.Log.String(), strings.TrimSpace(string(seed))) {
		t.Fatal("the log should name the seed file, and never show the seed")
	}

	if nc, err := nats.Connect("nats://"+addr, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("the port admitted a connection without credentials")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("without credentials: got %v, want an authorization error", err)
	}
	auth, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect("nats://"+addr, auth, nats.NoReconnect())
	if err != nil {
		t.Fatalf("with the seed: %v", err)
	}
	defer nc.Close()
	raw := readAllStreams(t, nc)
	tokenKey := node.tokenKey(t)
	if i, form, found := testenv.FindSecret(raw, rawSecret(t, creds.SigningSecret), tokenKey); found {
		t.Fatalf("the streams hold secret %d (0: the signing secret, 1: the token key) as %q", i, form)
	}

	// What the config stream holds does not sign tokens.
	js, _ := jetstream.New(nc)
	stream, _ := js.Stream(context.Background(), "BOOMERANG_CONFIG")
	held, err := stream.GetLastMsgForSubject(context.Background(), "config.token_key")
	if err != nil {
		t.Fatal(err)
	}
	forged := forgeStatusToken(t, held.Data, creds.TenantID)
	r := (&testenv.Client{Base: node.URL(), Key: forged, Contract: apiContract}).Do(t, http.MethodGet, "/v1/tasks", nil)
	if r.Status != http.StatusUnauthorized && r.Status != http.StatusForbidden {
		t.Fatalf("a token signed with the stored bytes: got %d, want it refused", r.Status)
	}
}

func forgeStatusToken(t *testing.T, key []byte, tenantID string) string {
	t.Helper()
	now := time.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"tid": tenantID, "sub": "tsk_x", "iss": "boomerang", "aud": []string{tenant.AudienceTaskStatus},
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// TestNATSPortWithOperatorUser: --nats-user/--nats-password replace the
// made user; another node connects with them.
func TestNATSPortWithOperatorUser(t *testing.T) {
	t.Parallel()
	natsAddr := freeAddr(t)
	_, port, _ := strings.Cut(natsAddr, ":")
	secretKey := newSecretKey(t)
	dir := t.TempDir()
	a := mustRunMainIn(t, dir, "--nats-port", port, "--nats-user", "ops", "--nats-password", "correct horse battery staple", "--secret-key", secretKey)
	if _, err := os.Stat(filepath.Join(dir, clientNkeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a seed file was made though the operator gave a user: %v", err)
	}
	if strings.Contains(a.Log.String(), "correct horse battery staple") {
		t.Fatal("the log shows the NATS password")
	}
	_, creds := a.tenantClient(t, "acme")
	b := MustRunMain(t, "--nats-url", "nats://"+natsAddr, "--nats-user", "ops", "--nats-password", "correct horse battery staple", "--secret-key", secretKey)
	r := (&testenv.Client{Base: b.URL(), Key: creds.APIKey, Contract: apiContract}).Do(t, http.MethodGet, "/v1/tasks", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("node B with node A's key: got %d", r.Status)
	}
	m, _ := newTestMain(t, t.TempDir(), "--nats-url", "nats://"+natsAddr, "--nats-user", "ops", "--nats-password", "wrong", "--secret-key", secretKey)
	if err := m.Run(context.Background()); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("a node with a wrong password: got %v, want an authorization error", err)
	}
}

// TestWrongSecretKeyRefused: a node given another secret key than the one
// its store was sealed with refuses to start, and says what to do.
func TestWrongSecretKeyRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	node := mustRunMainIn(t, dir, "--secret-key", newSecretKey(t))
	node.tenantClient(t, "acme")
	node.Stop()
	for name, args := range map[string][]string{
		"another key":            {"--secret-key", newSecretKey(t)},
		"the data dir's own key": nil, // made now: not the one given before
	} {
		m, logBuf := newTestMain(t, dir, args...)
		err := m.Run(context.Background())
		if err == nil {
			_ = m.Close()
			t.Fatalf("%s: the node started", name)
		}
		if !strings.Contains(err.Error(), "not configured") || !strings.Contains(err.Error(), "--secret-key") {
			t.Errorf("%s: the error does not say what to do: %v\n%s", name, err, logBuf.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, secretKeyFile)); err != nil {
		t.Fatalf("without --secret-key the data dir's key is made: %v", err)
	}
}

// TestRotateSecretKey: a node on key A; then on B,A, which seals
// everything again with B; then on B alone, with its view and rebuilt
// from the stream. Keys, status tokens and webhooks keep working.
func TestRotateSecretKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyA, keyB := newSecretKey(t), newSecretKey(t)
	node := mustRunMainIn(t, dir, "--secret-key", keyA)
	client, creds := node.tenantClient(t, "acme")
	var first issuedTask
	client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": "http://127.0.0.1:1/", "retries": 0}).JSON(t, &first)
	tokenKey := node.tokenKey(t)
	node.Stop()

	node = mustRunMainIn(t, dir, "--secret-key", keyB+","+keyA)
	if !strings.Contains(node.Log.String(), "tenant stream rewritten") {
		t.Fatal("B,A did not seal the stream again")
	}
	node.Stop()
	if err := os.Remove(filepath.Join(dir, "view.db")); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the view rebuilt from the stream, then as it was left
		node = mustRunMainIn(t, dir, "--secret-key", keyB)
		if got := node.tokenKey(t); !bytes.Equal(got, tokenKey) {
			t.Fatal("the token key changed with the rotation: every token would be void")
		}
		checkTenantWorks(t, node, creds, first)
		node.Stop()
	}
}

// issuedTask is a created task and its status token.
type issuedTask struct {
	ID          string `json:"id"`
	StatusToken string `json:"statusToken"`
}

// checkTenantWorks checks that the tenant's API key, a status token issued
// before, and webhooks signed with the tenant's current secret all work.
func checkTenantWorks(t *testing.T, node *testNode, creds tenant.Credentials, before issuedTask) {
	t.Helper()
	client := &testenv.Client{Base: node.URL(), Key: creds.APIKey, Contract: apiContract}
	if r := client.Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
		t.Fatalf("the API key: got %d", r.Status)
	}
	r := (&testenv.Client{Base: node.URL(), Key: before.StatusToken, Contract: apiContract}).Do(t, http.MethodGet, "/v1/tasks/"+before.ID, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("a status token issued before: got %d %s", r.Status, r.Body)
	}
	receiver := testenv.NewReceiver(t, creds.SigningSecret)
	target := testenv.NewTarget(t, answer(200))
	task := createTask(t, client, map[string]any{"targetUrl": target.URL, "webhookUrl": receiver.URL})
	waitTask(t, client, task.ID, 20*time.Second, webhookSettled)
	hooks := receiver.For(task.ID)
	if len(hooks) != 1 || hooks[0].VerifyErr != nil {
		t.Fatalf("the webhook: %d received, %v", len(hooks), hooks)
	}
	calls := target.CallsFor(task.ID)
	if len(calls) != 1 {
		t.Fatalf("the target: %d calls", len(calls))
	}
	if err := signing.Verify(calls[0].Header, calls[0].Body, time.Now(), rawSecret(t, creds.SigningSecret)); err != nil {
		t.Fatalf("the call to the target does not verify: %v", err)
	}
}

// plainFixture is what testdata/plain-secrets-datadir.json says of the
// data dir written before secrets were sealed.
type plainFixture struct {
	TenantID       string
	APIKeys        []string
	SigningSecrets []string
	TaskID         string
	StatusToken    string
}

// TestUpgradeFromPlainSecrets starts a node on a data dir written by the
// version before secrets were sealed: it seals them, the API keys, the
// status token and the current signing secret keep working, and no file
// of the data dir holds a signing secret or the token key any more.
func TestUpgradeFromPlainSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyDir(t, "testdata/plain-secrets-datadir", dir)
	var fx plainFixture
	data, err := os.ReadFile("testdata/plain-secrets-datadir.json")
	if err != nil || json.Unmarshal(data, &fx) != nil {
		t.Fatalf("fixture: %v", err)
	}
	secrets := [][]byte{rawSecret(t, fx.SigningSecrets[0]), rawSecret(t, fx.SigningSecrets[1]), plainTokenKey(t, dir)}
	if _, _, found := testenv.FindSecret(readFiles(t, dir), secrets...); !found {
		t.Fatal("the fixture holds no plain secret: the test would prove nothing")
	}

	node := mustRunMainIn(t, dir)
	for _, line := range []string{"tenant stream rewritten", "rebuilding it from the stream"} {
		if !strings.Contains(node.Log.String(), line) {
			t.Errorf("the log lacks %q", line)
		}
	}
	for _, key := range fx.APIKeys {
		if r := (&testenv.Client{Base: node.URL(), Key: key, Contract: apiContract}).Do(t, http.MethodGet, "/v1/tasks", nil); r.Status != http.StatusOK {
			t.Fatalf("an API key from before: got %d", r.Status)
		}
	}
	if got := node.tokenKey(t); !bytes.Equal(got, secrets[2]) {
		t.Fatal("the token key changed: every token issued before is void")
	}
	creds := tenant.Credentials{TenantID: fx.TenantID, APIKey: fx.APIKeys[0], SigningSecret: fx.SigningSecrets[1]}
	checkTenantWorks(t, node, creds, issuedTask{ID: fx.TaskID, StatusToken: fx.StatusToken})
	node.Stop()

	if i, form, found := testenv.FindSecret(readFiles(t, dir, secretKeyFile), secrets...); found {
		t.Fatalf("after the upgrade the data dir still holds secret %d (0, 1: signing secrets, 2: token key) as %q", i, form)
	}
	again := mustRunMainIn(t, dir)
	if strings.Contains(again.Log.String(), "rewriting") || strings.Contains(again.Log.String(), "rebuilding") {
		t.Fatal("the second start sealed again: the first did not finish")
	}
	checkTenantWorks(t, again, creds, issuedTask{ID: fx.TaskID, StatusToken: fx.StatusToken})
}

// plainTokenKey reads the token key a data dir from before sealing kept in
// plain text, with a server of its own on a copy.
func plainTokenKey(t *testing.T, dir string) []byte {
	t.Helper()
	cp := t.TempDir()
	copyDir(t, filepath.Join(dir, "nats"), cp)
	srv, err := natsembed.Start(natsembed.Config{Dir: cp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(context.Background(), "boomerang-config")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(context.Background(), "token-signing-key")
	if err != nil {
		t.Fatal(err)
	}
	return e.Value()
}

// copyDir copies the tree at src into dst, readable by its owner only.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readFiles returns the bytes of every file under dir but those named in
// except.
func readFiles(t *testing.T, dir string, except ...string) []byte {
	t.Helper()
	var all bytes.Buffer
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, name := range except {
			if d.Name() == name {
				return nil
			}
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(&all, f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all.Bytes()
}

// TestDevPrintsTheSecret: with sealed secrets, --dev still prints the dev
// tenant's signing secret, and it is the one webhooks are signed with.
func TestDevPrintsTheSecret(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m, logBuf := newTestMain(t, dir, "--dev")
	var stdout syncBuffer
	m.Stdout = &stdout
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v\n%s", err, logBuf.String())
	}
	defer m.Close()
	printed := regexpSecret.FindString(stdout.String())
	if printed == "" {
		t.Fatalf("the banner shows no signing secret:\n%s", stdout.String())
	}
	secrets, err := m.tenants.SigningSecrets(devTenantID)
	if err != nil || len(secrets) != 1 || secrets[0].String() != printed {
		t.Fatalf("the printed secret is not the one that signs: %v", err)
	}
	if strings.Contains(logBuf.String(), printed) {
		t.Fatal("the log shows the secret")
	}
}

var regexpSecret = regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`)
