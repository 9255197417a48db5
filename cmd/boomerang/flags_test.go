package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestCommandExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		inOutput string
	}{
		{[]string{"help"}, 0, "serve"},
		{[]string{"serve", "-h"}, 0, "-max-in-flight"},
		{[]string{"bench", "-h"}, 0, "-compare"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"serve", "--no-such-flag"}, 1, "no-such-flag"},
		{[]string{"serve", "--sync", "sometimes"}, 1, "--sync"},
	} {
		var out bytes.Buffer
		code := run(context.Background(), tc.args, nil, &out, &out)
		if code != tc.code || !strings.Contains(out.String(), tc.inOutput) {
			t.Errorf("boomerang %s: exit %d, want %d; output lacks %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.inOutput, out.String())
		}
	}
}

func TestFlagsFromTheEnvironment(t *testing.T) {
	env := map[string]string{
		"BOOMERANG_MAX_IN_FLIGHT":          "7",
		"BOOMERANG_DATA_DIR":               "/var/lib/boomerang",
		"BOOMERANG_RETRY_MAX":              "10m",
		"BOOMERANG_ADDR":                   "127.0.0.1:9999", // the command line wins
		"BOOMERANG_ALLOW_CIDR":             "10.1.0.0/16",
		"BOOMERANG_WEBHOOK_SCHEDULE":       "0s, 1m",
		"BOOMERANG_MAX_STREAMS":            "300",
		"BOOMERANG_MAX_STREAMS_PER_TENANT": "20",
		"BOOMERANG_MAX_STREAMS_PER_TASK":   "2",
		"BOOMERANG_MAX_TENANT_STREAMS":     "5",
	}
	m := NewMain()
	if err := m.ParseFlags([]string{"--addr", ":7000"}, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.MaxInFlight != 7 || c.DataDir != "/var/lib/boomerang" || c.RetryMax != 10*time.Minute || c.Addr != ":7000" {
		t.Errorf("config %+v", c)
	}
	if c.MaxStreams != 300 || c.MaxStreamsPerTenant != 20 || c.MaxStreamsPerTask != 2 || c.MaxTenantStreams != 5 {
		t.Errorf("stream caps %d, %d, %d, %d; want 300, 20, 2, 5", c.MaxStreams, c.MaxStreamsPerTenant, c.MaxStreamsPerTask, c.MaxTenantStreams)
	}
	if len(m.guard.Allow) != 1 || m.guard.Allow[0].String() != "10.1.0.0/16" {
		t.Errorf("guard allows %v, want 10.1.0.0/16", m.guard.Allow)
	}
	if s := m.policy.WebhookSchedule; len(s) != 2 || s[1] != time.Minute {
		t.Errorf("webhook schedule %v, want [0s 1m]", s)
	}
}

func TestBadConfigurationIsRefusedBeforeAnythingStarts(t *testing.T) {
	for _, args := range [][]string{
		{"--allow-cidr", "10.1.0.0/33"},
		{"--webhook-schedule", "0s,soon"},
		{"--webhook-schedule", "-5s"},
		{"--sync", "never"},
		{"--rate-limit-scope", "tenant"},
		// A tenant's retention must end before the task stream's age
		// limit drops the events of any task the view still holds.
		{"--retention", "1440h"},
		{"--retention", "2136h"},
		{"--task-retention", "1800h"},
		{"--task-retention", "720h"},
		{"--retention", "36h"},
		{"--retention", "24h"},
		{"--retention", "0s"},
		{"--prune-interval", "500ms"},
	} {
		m := NewMain()
		dir := t.TempDir()
		err := m.ParseFlags(append(args, "--data-dir", dir), func(string) string { return "" }, io.Discard)
		if err == nil {
			t.Errorf("%v: accepted", args)
			continue
		}
		if !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "-")) {
			t.Errorf("%v: error %q does not name the flag", args, err)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"serve", "--data-dir", t.TempDir() + "/data", "--allow-cidr", "nonsense"}, nil, &out, &out); code != 1 {
		t.Fatalf("serve with a bad --allow-cidr: exit %d, want 1\n%s", code, out.String())
	}
}

// TestRetentionBoundsFollowTheTaskStream: with the defaults a tenant may
// keep finished tasks 2 to 30 days; a longer task stream allows more, and
// one kept for ever allows years; a shorter webhook schedule and
// idempotency window allow a day.
func TestRetentionBoundsFollowTheTaskStream(t *testing.T) {
	const d = 24 * time.Hour
	for _, tc := range []struct {
		args     []string
		min, max time.Duration
	}{
		{nil, 2 * d, 30 * d},
		{[]string{"--task-retention", "4320h", "--retention", "90d"}, 0, 0},
		{[]string{"--task-retention", "4320h", "--retention", "2160h"}, 2 * d, 120 * d},
		{[]string{"--task-retention", "0s", "--retention", "8760h"}, 2 * d, 3650 * d},
		{[]string{"--webhook-schedule", "0s,1m", "--idempotency-window", "1h", "--retention", "24h"}, d, 33 * d},
	} {
		m := NewMain()
		err := m.ParseFlags(tc.args, func(string) string { return "" }, io.Discard)
		if tc.max == 0 {
			if err == nil {
				t.Errorf("%v: accepted", tc.args)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if m.retention.Min != tc.min || m.retention.Max != tc.max || m.retention.Default != m.Config.Retention {
			t.Errorf("%v: got bounds %+v, want %s..%s", tc.args, m.retention, tc.min, tc.max)
		}
	}
}
