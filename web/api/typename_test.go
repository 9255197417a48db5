package api_test

import (
	"net/http"
	"testing"

	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestWrongTypeNamesTheType: a member of the wrong JSON type is a 400
// whose message names the type the member has, an object being "of
// strings" only where its values are strings (headers), not flowControl,
// whose rate and parallelism are integers.
func TestWrongTypeNamesTheType(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{})
	c, _ := env.Tenant(t, "acme")
	for _, tt := range []struct{ member, field, message string }{
		{`"flowControl": "p"`, "flowControl", "must be an object"},
		{`"flowControl": [1]`, "flowControl", "must be an object"},
		{`"headers": "p"`, "headers", "must be an object of strings"},
		{`"headers": {"X-A": 1}`, "headers", "must be a string"},
		{`"retries": "2"`, "retries", "must be an integer"},
		{`"timeout": true`, "timeout", "must be a number"},
		{`"flowControl": {"key": "a", "rate": "5"}`, "flowControl.rate", "must be an integer"},
	} {
		r := c.Do(t, http.MethodPost, "/v1/tasks", `{"targetUrl": "https://example.com/x", `+tt.member+`}`)
		var p problemBody
		r.JSON(t, &p)
		if r.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != tt.field || p.Errors[0].Message != tt.message {
			t.Errorf("%s: got %d %s, want 400 with %s %q", tt.member, r.Status, r.Body, tt.field, tt.message)
		}
	}
}
