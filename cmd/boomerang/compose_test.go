package main

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestComposeFileStartsAThreeNodeCluster keeps docker-compose.yml true:
// each node's command parses as `serve` flags with the environment the
// file gives it, the three nodes have distinct server names, route to
// each other's cluster addresses, and share the cluster secret and the
// secret key; one published port leads to all three.
func TestComposeFileStartsAThreeNodeCluster(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
		} `yaml:"services"`
		Configs map[string]struct {
			Content string `yaml:"content"`
		} `yaml:"configs"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, node := range []string{"n1", "n2", "n3"} {
		svc, ok := file.Services[node]
		if !ok {
			t.Fatalf("no service %s", node)
		}
		if len(svc.Command) == 0 || svc.Command[0] != "serve" {
			t.Fatalf("%s: command %v does not start with serve", node, svc.Command)
		}
		env := map[string]string{}
		for k, v := range svc.Environment {
			// ${VAR:?…} must come from the operator's shell (any value
			// here); ${VAR:-default} may, else it is the default.
			if inner, ok := strings.CutPrefix(v, "${"); ok {
				inner = strings.TrimSuffix(inner, "}")
				if _, def, ok := strings.Cut(inner, ":-"); ok {
					v = def
				} else {
					v = "x" + k
				}
			}
			env[k] = v
		}
		if env["BOOMERANG_NATS_CLUSTER_SECRET"] == "" || env["BOOMERANG_SECRET_KEY"] == "" {
			t.Fatalf("%s: the cluster secret and the secret key must come from the environment", node)
		}
		env["BOOMERANG_SECRET_KEY"] = newSecretKey(t)
		m := NewMain()
		args := append(slices.Clone(svc.Command[1:]), "--data-dir", t.TempDir())
		if err := m.ParseFlags(args, func(k string) string { return env[k] }, io.Discard); err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		c := m.Config
		if c.NatsServerName != node || names[c.NatsServerName] {
			t.Errorf("%s: server name %q", node, c.NatsServerName)
		}
		names[c.NatsServerName] = true
		for _, peer := range []string{"n1", "n2", "n3"} {
			if !strings.Contains(c.NatsRoutes, "nats://"+peer+":6222") {
				t.Errorf("%s: routes %q lack %s", node, c.NatsRoutes, peer)
			}
		}
		if !strings.HasSuffix(c.NatsClusterListen, ":6222") {
			t.Errorf("%s: cluster listen %q", node, c.NatsClusterListen)
		}
	}
	proxy, ok := file.Services["proxy"]
	if !ok || !slices.Contains(proxy.Ports, "8080:8080") {
		t.Fatalf("no proxy publishing 8080: %+v", proxy)
	}
	caddy := file.Configs["caddyfile"].Content
	for _, want := range []string{"n1:8080", "n2:8080", "n3:8080", "health_uri /readyz"} {
		if !strings.Contains(caddy, want) {
			t.Errorf("the proxy's Caddyfile lacks %q", want)
		}
	}
}
