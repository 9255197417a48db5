package api

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/web/problem"
)

// TestRecheckRefusesWhatTheGuardNowBlocks: a replay's URLs meet the
// network guard as it is now, not as it was when the original was made.
func TestRecheckRefusesWhatTheGuardNowBlocks(t *testing.T) {
	t.Parallel()
	blocked := errors.New("is on a blocked network")
	v := &Validator{limits: Limits{}.WithDefaults(), now: time.Now, checkURL: func(u *url.URL) error {
		if u.Hostname() == "10.0.0.1" {
			return blocked
		}
		return nil
	}}
	if err := v.Recheck(broker.Spec{TargetURL: "https://example.com/x", WebhookURL: "https://hooks.example.com/"}); err != nil {
		t.Fatalf("allowed URLs: got %v", err)
	}
	err := v.Recheck(broker.Spec{TargetURL: "https://example.com/x", WebhookURL: "http://10.0.0.1/hook"})
	var p *problem.Problem
	if !errors.As(err, &p) || p.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "webhookUrl" {
		t.Fatalf("a blocked webhook URL: got %v, want a 400 naming webhookUrl", err)
	}
}
