package client_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/boomerang-dev/boomerang/client"
	"github.com/boomerang-dev/boomerang/internal/testenv"
	"github.com/boomerang-dev/boomerang/web/webtest"
)

// TestKeys: tasks under a flow-control key of 1 per hour: one runs, the
// other waits; the key pauses and resumes through the client; the task
// shows its key; an ordering key no task used is not found.
func TestKeys(t *testing.T) {
	t.Parallel()
	env := webtest.Start(t, webtest.Options{Workers: true})
	_, creds := env.Tenant(t, "acme")
	c := newClient(t, env, creds.APIKey)
	target := testenv.NewTarget(t, webtest.Answer(200))
	ctx := testContext(t)
	fc := client.FlowControl{Key: "hourly", Rate: 1, Period: "1h"}
	for range 2 {
		if _, err := c.CreateTask(ctx, target.URL, client.WithFlowControl(fc)); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitUntil(t, "one admitted, one waiting", func() (bool, string) {
		info, err := c.FlowControlKey(ctx, "hourly")
		return err == nil && info.Waiting == 1 && len(target.Calls()) == 1, fmt.Sprint(info, err)
	})
	info, err := c.PauseFlowControl(ctx, "hourly")
	if err != nil || !info.Paused || info.Rate != 1 || info.Period != "1h" {
		t.Fatalf("pause: got %+v, %v", info, err)
	}
	if info, err = c.ResumeFlowControl(ctx, "hourly"); err != nil || info.Paused {
		t.Fatalf("resume: got %+v, %v", info, err)
	}
	ordered, err := c.CreateTask(ctx, target.URL, client.WithOrderingKey("acct"))
	if err != nil || ordered.OrderingKey != "acct" {
		t.Fatalf("create with an ordering key: got %+v, %v", ordered, err)
	}
	var p *client.Problem
	if _, err := c.OrderingKey(ctx, "nobody"); !errors.As(err, &p) || p.Status != 404 {
		t.Fatalf("an unknown ordering key: got %v, want a 404 problem", err)
	}
}
