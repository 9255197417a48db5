package client_test

import (
	"fmt"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/boomerang-dev/boomerang/client"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestMain runs a real node (webtest: embedded JetStream, bbolt, the
// workers) for the examples, which read its URL and a tenant's key from
// BOOMERANG_URL and BOOMERANG_API_KEY as a program would, and a target
// that answers 200 from EXAMPLE_TARGET_URL. The tests start nodes of their
// own.
func TestMain(m *testing.M) {
	tb := &mainTB{}
	env := webtest.Start(tb, webtest.Options{Workers: true})
	_, creds := env.Tenant(tb, "examples")
	target := testenv.NewTarget(tb, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	os.Setenv("BOOMERANG_URL", env.URL)
	os.Setenv("BOOMERANG_API_KEY", creds.APIKey)
	os.Setenv("EXAMPLE_TARGET_URL", target.URL)
	code := m.Run()
	tb.cleanup()
	if tb.Failed() {
		code = 1
	}
	os.Exit(code)
}

// mainTB is what webtest needs of a testing.TB outside a test: cleanups
// run at the end of TestMain, a failure to start ends the binary.
type mainTB struct {
	testing.TB // not called: every method webtest uses is below
	mu         sync.Mutex
	cleanups   []func()
	failed     bool
}

func (m *mainTB) Helper()                      {}
func (m *mainTB) Name() string                 { return "TestMain" }
func (m *mainTB) Logf(string, ...any)          {}
func (m *mainTB) Log(...any)                   {}
func (m *mainTB) Fatal(args ...any)            { m.fail(fmt.Sprint(args...)); os.Exit(1) }
func (m *mainTB) Fatalf(f string, args ...any) { m.fail(fmt.Sprintf(f, args...)); os.Exit(1) }
func (m *mainTB) Error(args ...any)            { m.fail(fmt.Sprint(args...)) }
func (m *mainTB) Errorf(f string, args ...any) { m.fail(fmt.Sprintf(f, args...)) }
func (m *mainTB) Cleanup(f func())             { m.mu.Lock(); m.cleanups = append(m.cleanups, f); m.mu.Unlock() }
func (m *mainTB) Failed() bool                 { m.mu.Lock(); defer m.mu.Unlock(); return m.failed }
func (m *mainTB) fail(msg string) {
	m.mu.Lock()
	m.failed = true
	m.mu.Unlock()
	fmt.Fprintln(os.Stderr, "TestMain:", msg)
}
func (m *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "boomerang-client-test")
	if err != nil {
		m.Fatal(err)
	}
	m.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// cleanup runs the cleanups, the last registered first.
func (m *mainTB) cleanup() {
	for i := len(m.cleanups) - 1; i >= 0; i-- {
		m.cleanups[i]()
	}
}

// newClient returns a client of env sending key, whose every exchange is
// checked against docs/openapi.yaml.
func newClient(t *testing.T, env *webtest.Env, key string) *client.Client {
	t.Helper()
	hc := &http.Client{Transport: &testenv.ContractTransport{TB: t, Contract: webtest.Contract(t)}}
	c, err := client.New(env.URL, key, client.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
