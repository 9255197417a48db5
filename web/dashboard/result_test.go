package dashboard_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// visibleText returns the text a reader sees without opening anything:
// the page's text less what closed <details> elements hide (their summary
// stays visible).
func visibleText(t *testing.T, page string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	var walk func(n *html.Node, hidden bool)
	walk = func(n *html.Node, hidden bool) {
		switch {
		case n.Type == html.TextNode && !hidden:
			sb.WriteString(n.Data)
			sb.WriteByte(' ')
		case n.Type == html.ElementNode && (n.Data == "script" || n.Data == "style" || n.Data == "head"):
			return
		}
		closedDetails := n.Type == html.ElementNode && n.Data == "details" && !hasAttr(n, "open")
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			childHidden := hidden || (closedDetails && !(c.Type == html.ElementNode && c.Data == "summary"))
			walk(c, childHidden)
		}
	}
	walk(doc, false)
	return strings.Join(strings.Fields(sb.String()), " ")
}

func hasAttr(n *html.Node, name string) bool {
	for _, a := range n.Attr {
		if a.Key == name {
			return true
		}
	}
	return false
}

// TestTaskPageShowsTheSuccessfulAnswer: the page of a task that succeeded
// after a failed attempt shows, without a click, the successful answer's
// status, headers and body, as it shows the failed attempt's; and the
// API's result is the last attempt's response, recorded once.
func TestTaskPageShowsTheSuccessfulAnswer(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, creds := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			w.Header().Set("X-Failure", "first-try")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("try again later"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Answer", "forty-two")
		_, _ = w.Write([]byte(`{"answer":"the-successful-body"}`))
	})
	task := webtest.CreateTask(t, client, map[string]any{"targetUrl": target.URL})
	got := webtest.WaitTask(t, client, task.ID, 30*time.Second, webtest.Finished)
	if got.Status != broker.StatusSucceeded || len(got.Attempts) != 2 || got.Result == nil {
		t.Fatalf("task: %s with %d attempts, want succeeded after 2", got.Status, len(got.Attempts))
	}
	last, _ := json.Marshal(got.Attempts[1].Response)
	result, _ := json.Marshal(got.Result.Response)
	if !bytes.Equal(last, result) || got.Result.Headers["X-Answer"] != "forty-two" {
		t.Errorf("the API's result %s is not the last attempt's response %s", result, last)
	}

	browser, _ := env.SignIn(t, creds.APIKey)
	resp, err := browser.Get(env.URL + "/tasks/" + task.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("task page: %d", resp.StatusCode)
	}
	seen := visibleText(t, string(page))
	for _, want := range []string{
		"HTTP 503", "X-Failure", "first-try", "try again later", // the failed attempt, as before
		"Result", "HTTP 200", "X-Answer", "forty-two", `"answer": "the-successful-body"`, // the successful answer
	} {
		if !strings.Contains(seen, want) {
			t.Errorf("the task page does not show %q", want)
		}
	}
	if n := strings.Count(string(page), "the-successful-body"); n != 2 {
		t.Errorf("the successful body is on the page %d times, want twice: the result, and its attempt when opened", n)
	}
}
