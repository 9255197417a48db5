package dashboard_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// getTaskPage fetches a dashboard page with a signed-in client, failing unless
// it is a 200 under the dashboard's CSP.
func getTaskPage(t *testing.T, c *http.Client, url string) (*html.Node, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got %d %s", url, resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP: got %q, want no inline style", csp)
	}
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	return doc, string(body)
}

// find returns the elements under n that match.
func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}

// TestTaskPageWaterfall: the task page draws a waterfall row per attempt
// and per webhook delivery: an SVG bar whose phases include the wait for
// the first byte, the longest one, with the phases in words. No element
// carries an inline style (the CSP would drop it).
func TestTaskPageWaterfall(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	client, creds := env.Tenant(t, "acme")
	task := webtest.SlowTaskDelivered(t, client, creds, 50*time.Millisecond)
	browser, _ := env.SignIn(t, creds.APIKey)
	doc, page := getTaskPage(t, browser, env.URL+"/tasks/"+task.ID)

	rows := find(doc, func(n *html.Node) bool { return attr(n, "data-waterfall-row") != "" })
	var labels []string
	for _, row := range rows {
		label := attr(row, "data-waterfall-row")
		labels = append(labels, label)
		bars := find(row, func(n *html.Node) bool { return n.Data == "rect" })
		classes := map[string]bool{}
		for _, b := range bars {
			classes[attr(b, "class")] = true
		}
		if !classes["wf-call"] || !classes["wf-ttfb"] || !classes["wf-connect"] && !strings.Contains(visibleText(t, render(row)), "reused connection") {
			t.Errorf("%s: bars %v, want the call, its wait for the first byte, and a connection made or reused", label, classes)
		}
		if text := visibleText(t, render(row)); !strings.Contains(text, "wait (TTFB)") {
			t.Errorf("%s: text %q, want the phases in words", label, text)
		}
	}
	if want := "Attempt #1,Attempt #2,Delivery #1"; strings.Join(labels, ",") != want {
		t.Errorf("rows: got %v, want %s", labels, want)
	}
	if styled := find(doc, func(n *html.Node) bool { return attr(n, "style") != "" }); len(styled) > 0 || strings.Contains(page, "style=") {
		t.Errorf("%d elements with an inline style", len(styled))
	}
}

// TestTaskPageWithoutTiming: a task whose attempt was recorded before
// timings existed (an event of an earlier version, in JSON) still shows
// its attempt, and draws no waterfall.
func TestTaskPageWithoutTiming(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	client, creds := env.Tenant(t, "acme")
	id := broker.NewTaskID()
	at := time.Now().UTC().Format(time.RFC3339Nano)
	env.Publish(t, "task."+creds.TenantID+"."+id+".created", []byte(`{"targetUrl":"https://example.com/x","method":"POST","retries":0,"timeout":30,"createdAt":"`+at+`"}`))
	env.Publish(t, "task."+creds.TenantID+"."+id+".succeeded", []byte(`{"attempt":{"number":1,"startedAt":"`+at+
		`","durationMs":12.5,"outcome":"succeeded","statusCode":200,"body":"old-answer"},"attempts":1,"finishedAt":"`+at+`"}`))
	got := webtest.WaitTask(t, client, id, 30*time.Second, webtest.Finished)
	if len(got.Attempts) != 1 || got.Attempts[0].Timing != nil {
		t.Fatalf("attempts: got %+v, want one without timing", got.Attempts)
	}
	browser, _ := env.SignIn(t, creds.APIKey)
	doc, page := getTaskPage(t, browser, env.URL+"/tasks/"+id)
	if !strings.Contains(page, "old-answer") {
		t.Error("the attempt's answer is not on the page")
	}
	if rows := find(doc, func(n *html.Node) bool { return attr(n, "data-waterfall-row") != "" }); len(rows) != 0 {
		t.Errorf("got %d waterfall rows, want none without timings", len(rows))
	}
}

// render writes n back as HTML.
func render(n *html.Node) string {
	var sb strings.Builder
	_ = html.Render(&sb, n)
	return sb.String()
}
