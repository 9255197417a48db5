package web_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestMalformedEscapeIsRefusedBeforeTheApp pins what docs/problems.md
// says: a path with a malformed % escape is refused by net/http, 400
// text/plain, before any of our handlers (none logs the request), so no
// middleware of ours can make it a problem+json.
func TestMalformedEscapeIsRefusedBeforeTheApp(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	u, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/ordering-keys/%zz HTTP/1.1\r\nHost: "+u.Host+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("got %d %s, want net/http's 400 text/plain", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if strings.Contains(env.Log.String(), "ordering-keys") {
		t.Errorf("a handler saw the request:\n%s", env.Log.String())
	}
}
