package web_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// rawGet sends a GET that accepts gzip itself, so that the transport
// neither asks for nor undoes compression: the answer is as it was sent.
func rawGet(t *testing.T, client *http.Client, url string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("bad gzip: %v", err)
	}
	return out
}

// TestResponsesAreCompressed: API answers, pages, assets and the API
// description are gzipped for clients that accept it, and read the same
// once uncompressed; small answers and clients that do not accept gzip
// get them as they are. /metrics compresses itself, once.
func TestResponsesAreCompressed(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, creds := env.Tenant(t, "acme")
	task := webtest.CreateTask(t, client, map[string]any{
		"targetUrl": "http://127.0.0.1:1/", "delay": 3600, "payload": map[string]any{"text": strings.Repeat("boomerang ", 300)},
	})
	auth := "Bearer " + creds.APIKey
	session, _ := env.SignIn(t, creds.APIKey)
	plain := &http.Client{}
	for _, c := range []struct {
		name, path string
		client     *http.Client
		headers    []string
		gzipped    bool
		same       bool // reads the same twice
	}{
		{"a task", "/v1/tasks/" + task.ID, plain, []string{"Authorization", auth}, true, true},
		{"the list", "/v1/tasks", plain, []string{"Authorization", auth}, true, true},
		{"the API description", "/openapi.yaml", plain, nil, true, true},
		{"a page", "/tasks", session, nil, true, false},
		{"metrics", "/metrics", plain, nil, true, false},
		{"a problem", "/v1/tasks/tsk_nope", plain, []string{"Authorization", auth}, false, false},
		{"a small answer", "/healthz", plain, nil, false, false},
	} {
		resp, body := rawGet(t, c.client, env.URL+c.path, c.headers...)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s: got %d", c.name, resp.StatusCode)
		}
		gzipped := resp.Header.Get("Content-Encoding") == "gzip"
		if gzipped != c.gzipped {
			t.Errorf("%s: got Content-Encoding %q, want gzip: %v", c.name, resp.Header.Get("Content-Encoding"), c.gzipped)
			continue
		}
		if !gzipped {
			continue
		}
		if c.path != "/metrics" && !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: Vary %q lacks Accept-Encoding", c.name, resp.Header.Get("Vary"))
		}
		// The same request without gzip reads the same.
		req, _ := http.NewRequest(http.MethodGet, env.URL+c.path, nil)
		req.Header.Set("Accept-Encoding", "identity")
		for i := 0; i+1 < len(c.headers); i += 2 {
			req.Header.Set(c.headers[i], c.headers[i+1])
		}
		identity, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(identity.Body)
		identity.Body.Close()
		if identity.Header.Get("Content-Encoding") != "" {
			t.Errorf("%s: compressed for a client that does not accept it", c.name)
		}
		got := gunzip(t, body)
		if c.same && !bytes.Equal(got, want) || bytes.HasPrefix(got, []byte{0x1f, 0x8b}) {
			t.Errorf("%s: uncompressed, got %d bytes, want the %d of the plain answer", c.name, len(got), len(want))
		}
		if len(body) >= len(want) {
			t.Errorf("%s: compressed to %d bytes from %d", c.name, len(body), len(want))
		}
	}
}

// TestEventStreamsAreNotCompressed: an event stream's first event reaches
// a client that accepts gzip as soon as it happens, uncompressed, on the
// API's stream and on the dashboard's.
func TestEventStreamsAreNotCompressed(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, creds := env.Tenant(t, "acme")
	session, _ := env.SignIn(t, creds.APIKey)
	for _, c := range []struct {
		path   string
		client *http.Client
		header []string
	}{
		{"/v1/events", &http.Client{}, []string{"Authorization", "Bearer " + creds.APIKey}},
		{"/live", session, nil},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), testenv.GiveUpAfter)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+c.path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		for i := 0; i+1 < len(c.header); i += 2 {
			req.Header.Set(c.header[i], c.header[i+1])
		}
		resp, err := c.client.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if enc := resp.Header.Get("Content-Encoding"); enc != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Errorf("%s: got Content-Encoding %q, Content-Type %q, want an uncompressed event stream", c.path, enc, resp.Header.Get("Content-Type"))
		}
		task := webtest.CreateTask(t, client, map[string]any{"targetUrl": "http://127.0.0.1:1/", "delay": 3600})
		lines := bufio.NewScanner(resp.Body)
		found := false
		for !found && lines.Scan() {
			found = strings.HasPrefix(lines.Text(), "data: ") && strings.Contains(lines.Text(), task.ID)
		}
		if !found {
			t.Errorf("%s: the stream ended before the event of %s: %v", c.path, task.ID, lines.Err())
		}
		cancel()
		resp.Body.Close()
	}
}
