package web_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/docs"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestAPIReference: /docs lists every operation and every schema of
// docs/openapi.yaml, its links land on the page, and it needs nothing but
// the node: no script, nothing from another origin, its stylesheet served
// by the node.
func TestAPIReference(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	resp, err := http.Get(env.URL + "/docs")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs: got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q allows more than the page's stylesheet", csp)
	}

	spec, err := testenv.LoadContract(docs.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	operations := 0
	for path, item := range spec.Doc.Paths.Map() {
		for method := range item.Operations() {
			operations++
			if want := `<span class="method m-` + method + `">` + method + `</span> <code class="path">` + path + `</code>`; !strings.Contains(page, want) {
				t.Errorf("/docs does not list %s %s", method, path)
			}
		}
	}
	for name := range spec.Doc.Components.Schemas {
		if !strings.Contains(page, `id="schema-`+name+`"`) {
			t.Errorf("/docs does not describe the schema %s", name)
		}
	}
	if operations < 15 {
		t.Fatalf("only %d operations in the description: the test is not reading it", operations)
	}

	for _, m := range regexp.MustCompile(`href="#([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if !strings.Contains(page, `id="`+m[1]+`"`) {
			t.Errorf("the link to #%s lands nowhere", m[1])
		}
	}
	if strings.Contains(page, "<script") || regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(page) {
		t.Error("the reference loads a script or something from another origin")
	}
	css := regexp.MustCompile(`<link rel="stylesheet" href="(/docs/reference\.[0-9a-f]+\.css)">`).FindStringSubmatch(page)
	if css == nil {
		t.Fatal("the reference links no stylesheet of its own")
	}
	resp, err = http.Get(env.URL + css[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("GET %s: got %d %s", css[1], resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, err = http.Get(env.URL + "/docs/other.css")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown asset: got %d, want 404", resp.StatusCode)
	}
}
