package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file into a temp dir and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "boomerang.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// parseServe parses serve's flags from args and env, as `boomerang serve`
// does.
func parseServe(args []string, env map[string]string) (*Main, error) {
	m := NewMain()
	err := m.ParseFlags(args, func(k string) string { return env[k] }, io.Discard)
	return m, err
}

// TestConfigFileSetsFlagsThatNothingElseSets: the file (named by --config or
// BOOMERANG_CONFIG) sets flags by name, lists as comma-separated values;
// the environment wins over it and the command line over both.
func TestConfigFileSetsFlagsThatNothingElseSets(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
addr: 127.0.0.1:7000
data-dir: /srv/boomerang
max-in-flight: 17
retry-max: 10m
dev: true
create-rate: 12.5
cors-origins: [https://a.example, https://b.example]
webhook-schedule:
  - 0s
  - 1m
log-level: warn
public-url:
`)
	env := map[string]string{"BOOMERANG_MAX_IN_FLIGHT": "7", "BOOMERANG_LOG_LEVEL": "debug"}
	for _, how := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"--config", []string{"--config", path, "--log-level", "error"}, env},
		{"BOOMERANG_CONFIG", []string{"--log-level", "error"}, merge(env, map[string]string{"BOOMERANG_CONFIG": path})},
	} {
		m, err := parseServe(how.args, how.env)
		if err != nil {
			t.Fatalf("%s: %v", how.name, err)
		}
		c := m.Config
		if c.Addr != "127.0.0.1:7000" || c.DataDir != "/srv/boomerang" || c.RetryMax != 10*time.Minute || !c.Dev || c.CreateRate != 12.5 {
			t.Errorf("%s: the file's values: got %+v", how.name, c)
		}
		if c.CORSOrigins != "https://a.example,https://b.example" || len(m.policy.WebhookSchedule) != 2 || m.policy.WebhookSchedule[1] != time.Minute {
			t.Errorf("%s: lists: got --cors-origins %q, webhook schedule %v", how.name, c.CORSOrigins, m.policy.WebhookSchedule)
		}
		if c.MaxInFlight != 7 || c.LogLevel != "error" {
			t.Errorf("%s: got --max-in-flight %d and --log-level %s, want 7 from the environment and error from the command line",
				how.name, c.MaxInFlight, c.LogLevel)
		}
		if c.Sync != "always" {
			t.Errorf("%s: a flag the file leaves out: got --sync %q, want its default", how.name, c.Sync)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{a, b} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestBadConfigFileIsRefused: what the file gets wrong stops the node
// before anything starts, naming the file, the line and the key.
func TestBadConfigFileIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown key", "addr: :1\nmax-in-fligth: 2\n", []string{":2:", `unknown key "max-in-fligth"`, `did you mean "max-in-flight"`}},
		{"env spelling", "max_in_flight: 3\n", []string{`unknown key "max_in_flight"`, `"max-in-flight"`}},
		{"far from any flag", "colour: blue\n", []string{`unknown key "colour"`}},
		{"the config key", "config: other.yaml\n", []string{`unknown key "config"`}},
		{"bad value", "\nmax-in-flight: many\n", []string{":2:", "max-in-flight", `invalid value "many"`}},
		{"bad boolean", "dev: yes please\n", []string{"dev"}},
		{"nested", "nats:\n  url: nats://x\n", []string{"nats", "want a value"}},
		{"list of lists", "allow-cidr: [[10.0.0.0/8]]\n", []string{"allow-cidr", "only values"}},
		{"twice", "addr: :1\naddr: :2\n", []string{"line 2", `"addr" is set again`}},
		{"not a mapping", "- addr\n", []string{"mapping"}},
		{"not YAML", "addr: [\n", []string{"yaml"}},
		{"checked like a flag", "sync: sometimes\n", []string{"--sync"}},
	} {
		path := writeConfig(t, tc.text)
		_, err := parseServe([]string{"--config", path}, nil)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
	}
	if _, err := parseServe([]string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, nil); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("a missing file: got %v, want an error naming --config", err)
	}
	// An empty file sets nothing.
	if m, err := parseServe([]string{"--config", writeConfig(t, "# nothing yet\n")}, nil); err != nil || m.Config.Addr != ":8080" {
		t.Errorf("an empty file: got %v, --addr %q", err, m.Config.Addr)
	}
}

// TestExampleConfigFile loads docs/boomerang.example.yaml as serve would,
// and checks that it names every serve flag, set or commented out, so that
// it documents them all.
func TestExampleConfigFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "docs", "boomerang.example.yaml")
	m, err := parseServe([]string{"--config", path}, nil)
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	if c := m.Config; c.DataDir != "/var/lib/boomerang" || c.LogFormat != "json" || m.publicURL == nil || len(m.policy.WebhookSchedule) != 8 {
		t.Errorf("the example's settings: got %+v", c)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	named := map[string]bool{}
	for _, match := range regexp.MustCompile(`(?m)^#? ?([a-z][a-z0-9-]*):`).FindAllStringSubmatch(string(data), -1) {
		named[match[1]] = true
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	new(ServeConfig).register(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != configFlag && !named[f.Name] {
			t.Errorf("docs/boomerang.example.yaml does not show --%s", f.Name)
		}
	})
}
