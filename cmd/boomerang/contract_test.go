package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/docs"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

var echoParam = regexp.MustCompile(`:([a-zA-Z]+)`)

// TestAPIDescriptionMatchesRouter fails when the router serves a route the
// OpenAPI description lacks, or the description promises one the router
// does not serve.
func TestAPIDescriptionMatchesRouter(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t, "--dev")
	served := map[string]bool{}
	for _, r := range node.webServer.Routes() {
		method, path := r[0], echoParam.ReplaceAllString(r[1], "{$1}")
		if !isAPIPath(path) {
			continue // the dashboard's pages and the --dev helpers are not the API
		}
		served[method+" "+path] = true
		item := apiContract.Doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("the router serves %s %s, which docs/openapi.yaml does not describe", method, path)
		}
	}
	for path, item := range apiContract.Doc.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+path] {
				t.Errorf("docs/openapi.yaml describes %s %s, which the router does not serve", method, path)
			}
		}
	}
	if len(served) < 12 {
		t.Fatalf("only %d routes found; the test is not seeing the router", len(served))
	}
}

func TestAPIDescriptionIsServed(t *testing.T) {
	t.Parallel()
	node := MustRunMain(t)
	r := (&testenv.Client{Base: node.URL(), Contract: apiContract}).Do(t, http.MethodGet, "/openapi.yaml", nil)
	if r.Status != http.StatusOK || string(r.Body) != string(docs.OpenAPI) || !strings.HasPrefix(string(r.Body), "openapi: 3.1") {
		t.Fatalf("GET /openapi.yaml: got %d, %d bytes", r.Status, len(r.Body))
	}
	if !apiContract.Doc.IsOpenAPI31OrLater() {
		t.Fatal("the description is not OpenAPI 3.1")
	}
}

// isAPIPath tells the HTTP API's routes from the dashboard's pages.
func isAPIPath(path string) bool {
	for _, prefix := range []string{"/v1/", "/admin/", "/healthz", "/readyz", "/metrics", "/openapi.yaml"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}
