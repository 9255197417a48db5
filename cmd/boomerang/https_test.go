package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// nodeCert returns the files of a fresh certificate for 127.0.0.1 and
// localhost and of its key.
func nodeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	return testenv.NewCA(t).Issue(t, "node")
}

// TestServesHTTPS runs a node with --tls-cert and --tls-key: it answers
// HTTPS (HTTP/2) only, with HSTS, and its session cookie is Secure.
func TestServesHTTPS(t *testing.T) {
	t.Parallel()
	cert, key := nodeCert(t)
	node := MustRunMain(t, "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(node.URL(), "https://") {
		t.Fatalf("node URL %s", node.URL())
	}
	c := node.httpClient(t)
	admin := &testenv.Client{Base: node.URL(), Key: testAdminToken, HTTP: c, Contract: apiContract}
	r := admin.Do(t, http.MethodPost, "/admin/v1/tenants", map[string]string{"name": "acme"})
	if r.Status != http.StatusCreated || r.Header.Get("Strict-Transport-Security") != "max-age=31536000" {
		t.Fatalf("create a tenant over HTTPS: got %d, HSTS %q", r.Status, r.Header.Get("Strict-Transport-Security"))
	}
	var creds struct{ APIKey string }
	r.JSON(t, &creds)
	resp, err := c.PostForm(node.URL()+"/signin", url.Values{"apiKey": {creds.APIKey}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.TLS == nil {
		t.Errorf("sign-in over %s, TLS %v; want HTTP/2 over TLS", resp.Proto, resp.TLS != nil)
	}
	cookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"boomerang_session=", "Secure", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("the sign-in answer has no HSTS")
	}
	// Plain HTTP on the same port gets nothing of the API.
	plain, err := http.Get("http://" + strings.TrimPrefix(node.URL(), "https://") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	plain.Body.Close()
	if plain.StatusCode != http.StatusBadRequest {
		t.Errorf("plain HTTP to the HTTPS port: got %d, want 400", plain.StatusCode)
	}
}

// TestPublicHTTPSURLBehindAProxy runs a node on plain HTTP whose public
// URL is https, as behind a TLS proxy: cookies are Secure, responses carry
// HSTS, sign-ins from the public origin are same-origin, and the dev
// sign-in link names the public URL.
func TestPublicHTTPSURLBehindAProxy(t *testing.T) {
	t.Parallel()
	m, logBuf := newTestMain(t, t.TempDir(), "--dev", "--public-url", "https://boomerang.example/")
	var out syncBuffer
	m.Stdout = &out
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v\n%s", err, logBuf.String())
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("the node failed: %v", err)
		}
	})
	node := &testNode{Main: m, Log: logBuf}
	if !strings.Contains(out.String(), "https://boomerang.example/signin?token=") {
		t.Errorf("the dev banner does not link to the public URL:\n%s", out.String())
	}
	_, creds := node.tenantClient(t, "acme")
	req, _ := http.NewRequest(http.MethodPost, node.URL()+"/signin", strings.NewReader(url.Values{"apiKey": {creds.APIKey}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://boomerang.example")
	resp, err := node.httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in from the public origin: got %d, want 303", resp.StatusCode)
	}
	if c := resp.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Errorf("session cookie %q is not Secure", c)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h != "max-age=31536000" {
		t.Errorf("HSTS %q", h)
	}
}

// TestBadTLSOrPublicURLIsRefusedAtStart: a half-configured or broken pair,
// and a public URL that is not a base URL, stop serve before anything
// starts, with an error naming the flag.
func TestBadTLSOrPublicURLIsRefusedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := nodeCert(t)
	otherCert, otherKey := nodeCert(t)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", cert}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", key}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", cert, "--tls-key", otherKey}, "--tls-cert/--tls-key: tls: private key does not match public key"},
		{[]string{"--tls-cert", otherCert, "--tls-key", key}, "--tls-cert/--tls-key: tls: private key does not match public key"},
		{[]string{"--tls-cert", key, "--tls-key", cert}, "--tls-cert/--tls-key"},
		{[]string{"--tls-cert", garbage, "--tls-key", key}, "--tls-cert/--tls-key"},
		{[]string{"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", key}, "no such file"},
		{[]string{"--tls-cert", cert, "--tls-key", key, "--public-url", "http://boomerang.example"}, "--public-url"},
		{[]string{"--public-url", "boomerang.example"}, "--public-url"},
		{[]string{"--public-url", "ftp://boomerang.example"}, "--public-url"},
		{[]string{"--public-url", "https://"}, "--public-url"},
		{[]string{"--public-url", "https://user:pw@boomerang.example"}, "--public-url"},
		{[]string{"--public-url", "https://boomerang.example/dashboard"}, "--public-url"},
		{[]string{"--public-url", "https://boomerang.example/?a=b"}, "--public-url"},
		{[]string{"--public-url", "https://boomerang.example/#x"}, "--public-url"},
		{[]string{"--session-max-age", "0s"}, "--session-max-age"},
	} {
		m := NewMain()
		err := m.ParseFlags(append(tc.args, "--data-dir", t.TempDir()), func(string) string { return "" }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	// From the environment too, and through the command, which exits 1
	// with the reason and leaves no data behind.
	m := NewMain()
	env := map[string]string{"BOOMERANG_TLS_CERT": cert}
	if err := m.ParseFlags(nil, func(k string) string { return env[k] }, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--tls-key") {
		t.Errorf("BOOMERANG_TLS_CERT alone: got %v", err)
	}
	var out bytes.Buffer
	data := filepath.Join(t.TempDir(), "data")
	if code := run(context.Background(), []string{"serve", "--data-dir", data, "--tls-cert", cert, "--tls-key", otherKey}, nil, &out, &out); code != 1 ||
		!strings.Contains(out.String(), "private key does not match public key") {
		t.Errorf("serve with a mismatched pair: exit %d\n%s", code, out.String())
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("serve refused the pair after creating its data dir: %v", err)
	}
	// A good pair and public URL from the environment are taken.
	m = NewMain()
	env = map[string]string{"BOOMERANG_TLS_CERT": cert, "BOOMERANG_TLS_KEY": key, "BOOMERANG_PUBLIC_URL": "https://boomerang.example",
		"BOOMERANG_SESSION_MAX_AGE": "2h"}
	if err := m.ParseFlags(nil, func(k string) string { return env[k] }, &bytes.Buffer{}); err != nil || m.tlsConfig == nil ||
		m.publicURL.String() != "https://boomerang.example" || m.Config.SessionMaxAge != 2*time.Hour {
		t.Errorf("a good configuration from the environment: %v", err)
	}
}
