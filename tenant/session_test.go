package tenant_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/boomerang-dev/boomerang/internal/projector"
	"github.com/boomerang-dev/boomerang/tenant"
)

func newTokens(t *testing.T, clk *clock, opts ...tenant.TokenOption) *tenant.Tokens {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return tenant.NewTokens(key, time.Hour, clk.Now, opts...)
}

// A session renewed again and again keeps its id and its sign-in time, and
// ends at its maximum age however recently it was renewed.
func TestSessionsEndAtTheirMaximumAge(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	tokens := newTokens(t, clk, tenant.WithSessionMaxAge(3*time.Hour))
	signedIn := clk.Now()
	token, sess, err := tokens.IssueSession(tenant.Principal{TenantID: "ten_a", KeyID: "k1"})
	if err != nil {
		t.Fatal(err)
	}
	if want := signedIn.Add(3 * time.Hour); !sess.EndsAt.Equal(want) || !sess.ExpiresAt.Equal(signedIn.Add(tenant.SessionTTL)) {
		t.Fatalf("new session: ends %s, expires %s; want %s and an hour from now", sess.EndsAt, sess.ExpiresAt, want)
	}
	end := signedIn.Add(3 * time.Hour)
	renewals := 0
	for clk.Now().Add(40 * time.Minute).Before(end) {
		clk.Add(40 * time.Minute)
		parsed, err := tokens.ParseSession(token)
		if err != nil {
			t.Fatalf("%s after sign-in: %v", clk.Now().Sub(signedIn), err)
		}
		if parsed.ID != sess.ID || !parsed.SignedInAt.Equal(signedIn) || parsed.KeyID != "k1" || !parsed.EndsAt.Equal(end) {
			t.Fatalf("renewal %d: got %+v, want the same session %s signed in at %s", renewals, parsed, sess.ID, signedIn)
		}
		if !tokens.RenewDue(parsed) {
			continue
		}
		if token, sess, err = tokens.RenewSession(parsed); err != nil {
			t.Fatal(err)
		}
		if sess.ExpiresAt.After(end) {
			t.Fatalf("renewal %d expires at %s, after the session's end %s", renewals, sess.ExpiresAt, end)
		}
		renewals++
	}
	if renewals != 3 || !sess.ExpiresAt.Equal(end) {
		t.Fatalf("%d renewals, the last expiring at %s; want 3, the last at the session's end", renewals, sess.ExpiresAt)
	}
	clk.Add(end.Sub(clk.Now()) - time.Second)
	if _, err := tokens.ParseSession(token); err != nil {
		t.Fatalf("a second before the end: %v", err)
	}
	clk.Add(time.Second)
	if _, err := tokens.ParseSession(token); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Fatalf("at the end: got %v, want ErrUnauthorized", err)
	}
	if _, _, err := tokens.RenewSession(sess); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Fatalf("renewing an ended session: got %v, want ErrUnauthorized", err)
	}
}

// Session tokens without a session id or a sign-in time, or claiming a
// sign-in after their issue, are not ours.
func TestSessionTokensNeedTheirSessionClaims(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tokens := tenant.NewTokens(key, time.Hour, clk.Now)
	now := clk.Now()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "boomerang", "aud": tenant.AudienceSession, "tid": "ten_a", "jti": "j1", "sid": "s1",
			"sat": now.UnixMilli(), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	sign := func(c jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := tokens.ParseSession(sign(base())); err != nil {
		t.Fatalf("well-formed session: %v", err)
	}
	for name, change := range map[string]func(jwt.MapClaims){
		"no sid":             func(c jwt.MapClaims) { delete(c, "sid") },
		"no sat":             func(c jwt.MapClaims) { delete(c, "sat") },
		"sat after iat":      func(c jwt.MapClaims) { c["sat"] = now.Add(time.Hour).UnixMilli() },
		"sat beyond max age": func(c jwt.MapClaims) { c["sat"] = now.Add(-tenant.DefaultSessionMaxAge).UnixMilli() },
		"sign-in audience":   func(c jwt.MapClaims) { c["aud"] = tenant.AudienceSignIn },
	} {
		c := base()
		change(c)
		if _, err := tokens.ParseSession(sign(c)); !errors.Is(err, tenant.ErrUnauthorized) {
			t.Errorf("%s: got %v, want ErrUnauthorized", name, err)
		}
	}
}

func TestSignOutEndsOneSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tokens := newTokens(t, b.clock)
	acme, _ := b.service.Create(ctx, "acme")
	other, _ := b.service.Create(ctx, "other")
	_, mine, _ := tokens.IssueSession(tenant.Principal{TenantID: acme.TenantID})
	_, kept, _ := tokens.IssueSession(tenant.Principal{TenantID: acme.TenantID})
	// Another tenant's session with the same id is another session.
	theirs := mine
	theirs.TenantID = other.TenantID
	for _, s := range []tenant.Session{mine, kept, theirs} {
		if !sessionActive(t, b.store, context.Background(), s) {
			t.Fatalf("session %s of %s inactive before any sign-out", s.ID, s.TenantID)
		}
	}
	if err := b.service.EndSession(ctx, acme.TenantID, mine.ID, mine.EndsAt); err != nil {
		t.Fatal(err)
	}
	if sessionActive(t, b.store, context.Background(), mine) {
		t.Fatal("the signed-out session is still active")
	}
	if !sessionActive(t, b.store, context.Background(), kept) || !sessionActive(t, b.store, context.Background(), theirs) {
		t.Fatal("signing out one session ended another")
	}
	if err := b.service.EndSession(ctx, "ten_nosuchtenant00", mine.ID, mine.EndsAt); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("ending a session of an unknown tenant: got %v, want ErrNotFound", err)
	}
}

// Ending all sessions ends those begun before it, by key or by link, and
// the links issued before it; later ones and other tenants' are untouched.
func TestEndAllSessions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tokens := newTokens(t, b.clock)
	acme, _ := b.service.Create(ctx, "acme")
	other, _ := b.service.Create(ctx, "other")
	p, err := b.store.Authenticate(ctx, acme.APIKey)
	if err != nil {
		t.Fatal(err)
	}
	_, byKey, _ := tokens.IssueSession(p)
	_, byLink, _ := tokens.IssueSession(tenant.Principal{TenantID: acme.TenantID})
	_, link, _ := tokens.IssueSignInLink(acme.TenantID)
	_, theirs, _ := tokens.IssueSession(tenant.Principal{TenantID: other.TenantID})
	b.clock.Add(time.Second)
	if err := b.service.EndAllSessions(ctx, acme.TenantID); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]tenant.Session{"key session": byKey, "link session": byLink, "unused link": link} {
		if sessionActive(t, b.store, context.Background(), s) {
			t.Errorf("%s begun before the end of all sessions is still active", name)
		}
	}
	if !sessionActive(t, b.store, context.Background(), theirs) {
		t.Error("another tenant's session ended")
	}
	b.clock.Add(time.Second)
	if _, later, _ := tokens.IssueSession(p); !sessionActive(t, b.store, context.Background(), later) {
		t.Error("a session begun after the end of all sessions is inactive")
	}
	if _, err := b.store.Authenticate(ctx, acme.APIKey); err != nil {
		t.Errorf("the API key after ending all sessions: %v", err)
	}
}

// A sign-in link is used once, whichever of many concurrent uses wins.
func TestSignInLinkIsUsedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tokens := newTokens(t, b.clock)
	acme, _ := b.service.Create(ctx, "acme")
	_, link, _ := tokens.IssueSignInLink(acme.TenantID)
	var mu sync.Mutex
	wins, used := 0, 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			err := b.service.UseSignInLink(ctx, link)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, tenant.ErrLinkUsed):
				used++
			default:
				t.Errorf("use: %v", err)
			}
		})
	}
	wg.Wait()
	if wins != 1 || used != 7 {
		t.Fatalf("8 concurrent uses: %d succeeded and %d were refused as used; want 1 and 7", wins, used)
	}
	_, another, _ := tokens.IssueSignInLink(acme.TenantID)
	if err := b.service.UseSignInLink(ctx, another); err != nil {
		t.Fatalf("another link: %v", err)
	}
	forged := link
	forged.ID = "a.b"
	if err := b.service.UseSignInLink(ctx, forged); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Fatalf("a link id that is no subject token: got %v, want ErrUnauthorized", err)
	}
}

// A session that began on another node a moment ago opens on a node whose
// view has not yet applied its tenant or its key: the node catches up
// first. A session of a tenant the stream does not hold stays refused.
func TestSessionFromAnotherNodeOpensBeforeTheViewCatchesUp(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	_, tokens, withKey := tenantWithSession(t, a)
	_, stranger, _ := tokens.IssueSession(tenant.Principal{TenantID: "ten_nobody"})

	// Node B's view has applied nothing; its projector runs only when the
	// store asks to catch up.
	db, storeB := emptyView(t, a)
	if sessionActive(t, storeB, ctx, withKey) {
		t.Fatal("a view that knows no tenant opened a session without catching up")
	}
	proj := projector.New(a.js, db, tenant.Stream, storeB, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var once sync.Once
	catchUps := 0
	storeB.OnMiss(func(ctx context.Context) error {
		catchUps++
		once.Do(func() {
			pctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = proj.Run(pctx) }()
			t.Cleanup(func() { cancel(); <-done })
		})
		return proj.CatchUp(ctx)
	})
	if !sessionActive(t, storeB, ctx, withKey) {
		t.Fatal("node B refused a session node A began: it did not catch up")
	}
	if catchUps != 1 {
		t.Fatalf("%d catch-ups for one unknown session, want 1", catchUps)
	}
	if sessionActive(t, storeB, ctx, stranger) {
		t.Fatal("a session of a tenant the stream does not hold was accepted")
	}
}

// A node whose tenant view cannot catch up with the stream (its
// projector stalled, its connection to NATS gone) cannot tell whether a
// key or session it does not know was made on another node a moment ago:
// it says so (ErrViewBehind, a 503) rather than calling a valid key
// wrong (ErrUnauthorized, a 401), which a client may act on by giving it
// up. Once it can catch up, the key works and an unknown one is refused.
func TestUnknownCredentialsWhileTheViewCannotCatchUp(t *testing.T) {
	t.Parallel()
	a := setup(t)
	ctx := context.Background()
	creds, _, session := tenantWithSession(t, a)
	unknown := creds.APIKey[:len(creds.APIKey)-49] + "0123456789abcdef" + creds.APIKey[len(creds.APIKey)-33:]

	// Node B: a view that has applied nothing, and a projector that does
	// not run (as one whose consumer cannot be made during an election).
	db, storeB := emptyView(t, a)
	proj := projector.New(a.js, db, tenant.Stream, storeB, slog.New(slog.NewTextHandler(io.Discard, nil)))
	storeB.OnMiss(proj.CatchUp)
	for name, key := range map[string]string{"a key made on node A": creds.APIKey, "an unknown key": unknown} {
		if _, err := storeB.Authenticate(ctx, key); !errors.Is(err, tenant.ErrViewBehind) {
			t.Errorf("%s on a view that cannot catch up: got %v, want ErrViewBehind", name, err)
		}
	}
	if active, err := storeB.SessionActive(ctx, session); !errors.Is(err, tenant.ErrViewBehind) || active {
		t.Errorf("a session begun on node A, on a view that cannot catch up: got %v %v, want ErrViewBehind", active, err)
	}
	if _, err := storeB.Authenticate(ctx, "bk_malformed"); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Errorf("a malformed key needs no view: got %v, want ErrUnauthorized", err)
	}

	pctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = proj.Run(pctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if p, err := storeB.Authenticate(ctx, creds.APIKey); err != nil || p.TenantID != creds.TenantID {
		t.Errorf("node A's key once node B can catch up: got %+v %v", p, err)
	}
	if _, err := storeB.Authenticate(ctx, unknown); !errors.Is(err, tenant.ErrUnauthorized) {
		t.Errorf("an unknown key once node B has caught up: got %v, want ErrUnauthorized", err)
	}
}

// sessionActive is SessionActive for a view that can always catch up: an
// error fails the test.
func sessionActive(t *testing.T, store *tenant.Store, ctx context.Context, sess tenant.Session) bool {
	t.Helper()
	active, err := store.SessionActive(ctx, sess)
	if err != nil {
		t.Fatalf("SessionActive: %v", err)
	}
	return active
}

// tenantWithSession creates a tenant on node a and begins a session with
// its key, signed by tokens.
func tenantWithSession(t *testing.T, a bundle) (tenant.Credentials, *tenant.Tokens, tenant.Session) {
	t.Helper()
	creds, err := a.service.Create(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.store.Get(creds.TenantID)
	if err != nil || len(got.Keys) != 1 {
		t.Fatalf("tenant on node A: %+v %v", got, err)
	}
	tokens := newTokens(t, a.clock)
	_, session, _ := tokens.IssueSession(tenant.Principal{TenantID: creds.TenantID, KeyID: got.Keys[0].ID})
	return creds, tokens, session
}

// emptyView is node B's tenant view beside node a: a view file of its own
// that has applied nothing, with the operator's key the nodes share.
func emptyView(t *testing.T, a bundle) (*bolt.DB, *tenant.Store) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "view.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, tenant.NewStore(db, a.keys, a.clock.Now)
}
