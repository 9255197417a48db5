package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

func TestStatusTokenReadsOnlyItsTask(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{CORSOrigins: []string{"https://app.example"}, Workers: true})
	client, _ := env.Tenant(t, "acme")
	target := testenv.NewTarget(t, webtest.Answer(200))
	r := client.Do(t, http.MethodPost, "/v1/tasks", map[string]any{"targetUrl": target.URL})
	var created struct {
		ID          string `json:"id"`
		StatusToken string `json:"statusToken"`
	}
	r.JSON(t, &created)
	if created.StatusToken == "" {
		t.Fatalf("the 202 body has no statusToken: %s", r.Body)
	}
	other := webtest.CreateTask(t, client, map[string]any{"targetUrl": target.URL})
	webtest.WaitTask(t, client, created.ID, 10*time.Second, webtest.Finished)
	bearer := env.Client(t, created.StatusToken)
	anon := env.Client(t, "")

	// A browser follows the status monitor's 303 to the result with the token.
	follow := env.Client(t, "")
	follow.HTTP = &http.Client{}
	r = follow.Do(t, http.MethodGet, "/v1/tasks/"+created.ID+"/status?token="+created.StatusToken, nil)
	var result struct {
		Status     string `json:"status"`
		StatusCode int    `json:"statusCode"`
	}
	r.JSON(t, &result)
	if r.Status != http.StatusOK || result.Status != "succeeded" || result.StatusCode != 200 {
		t.Fatalf("303 followed with the token: got %d %s", r.Status, r.Body)
	}

	tests := []struct {
		name   string
		c      *testenv.Client
		method string
		path   string
		status int
	}{
		{"read its task", bearer, "GET", "/v1/tasks/" + created.ID, 200},
		{"read its result", bearer, "GET", "/v1/tasks/" + created.ID + "/result", 200},
		{"token in the query", anon, "GET", "/v1/tasks/" + created.ID + "?token=" + created.StatusToken, 200},
		{"another task", bearer, "GET", "/v1/tasks/" + other.ID, 403},
		{"another task's events", anon, "GET", "/v1/tasks/" + other.ID + "/events?token=" + created.StatusToken, 403},
		{"create", bearer, "POST", "/v1/tasks", 403},
		{"cancel", bearer, "DELETE", "/v1/tasks/" + created.ID, 403},
		{"redeliver", bearer, "POST", "/v1/tasks/" + created.ID + "/redeliver", 403},
		{"list", bearer, "GET", "/v1/tasks", 403},
		{"tenant events", bearer, "GET", "/v1/events", 403},
		{"forged token", env.Client(t, created.StatusToken[:len(created.StatusToken)-2]+"xx"), "GET", "/v1/tasks/" + created.ID, 401},
	}
	for _, tt := range tests {
		var body any
		if tt.method == "POST" {
			body = map[string]any{"targetUrl": target.URL}
		}
		if r := tt.c.Do(t, tt.method, tt.path, body); r.Status != tt.status {
			t.Errorf("%s: got %d %s, want %d", tt.name, r.Status, r.Body, tt.status)
		}
	}

	// CORS: the allowed origin may read with the token; others get no grant.
	// (A preflight is not in the API description: a client without it.)
	r = (&testenv.Client{Base: env.URL}).Do(t, http.MethodOptions, "/v1/tasks/"+created.ID+"/status", nil,
		"Origin", "https://app.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	if r.Status != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: got %d %v", r.Status, r.Header)
	}
	r = bearer.Do(t, http.MethodGet, "/v1/tasks/"+created.ID, nil, "Origin", "https://evil.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a disallowed origin got Access-Control-Allow-Origin %q", r.Header.Get("Access-Control-Allow-Origin"))
	}
	r = client.Do(t, http.MethodGet, "/v1/tasks", nil, "Origin", "https://app.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the listing, which needs an API key, allowed CORS")
	}
}
