package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// configFlag names the YAML file of serve flags (--config, and so
// BOOMERANG_CONFIG).
const configFlag = "config"

// configValue is one key of a config file, as written.
type configValue struct {
	key, value string
	line       int
}

// applyConfigFile sets, from the file the config flag of fs names (if fs
// has one and it is set), every flag that given does not list: those the
// command line and the environment set win over the file. The file is a
// YAML mapping of flag names (as on the command line, without dashes in
// front) to values; a list stands for a comma-separated value. An unknown
// key, a value a flag refuses and anything but a value or a list of
// values are errors naming the file, the line and the key.
func applyConfigFile(fs *flag.FlagSet, given map[string]bool) error {
	f := fs.Lookup(configFlag)
	if f == nil || f.Value.String() == "" {
		return nil
	}
	path := f.Value.String()
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--%s: %w", configFlag, err)
	}
	values, err := parseConfig(data)
	if err != nil {
		return fmt.Errorf("--%s %s: %w", configFlag, path, err)
	}
	for _, v := range values {
		if fs.Lookup(v.key) == nil || v.key == configFlag {
			return fmt.Errorf("%s:%d: unknown key %q%s", path, v.line, v.key, suggestFlag(fs, v.key))
		}
		if given[v.key] {
			continue
		}
		if err := fs.Set(v.key, v.value); err != nil {
			return fmt.Errorf("%s:%d: %s: invalid value %q: %w", path, v.line, v.key, v.value, err)
		}
	}
	return nil
}

// parseConfig reads a config file's keys and values in the order written.
// An empty file has none.
func parseConfig(data []byte) ([]configValue, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of flag names to values", root.Line)
	}
	var out []configValue
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key must be a flag's name", k.Line)
		}
		if first, dup := seen[k.Value]; dup {
			return nil, fmt.Errorf("line %d: %q is set again (first on line %d)", k.Line, k.Value, first)
		}
		seen[k.Value] = k.Line
		value, err := configScalar(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %w", v.Line, k.Value, err)
		}
		out = append(out, configValue{key: k.Value, value: value, line: k.Line})
	}
	return out, nil
}

// configScalar is the flag value a YAML value stands for: a scalar as
// written (an empty one for null), or a list of scalars joined by commas.
func configScalar(n *yaml.Node) (string, error) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return "", nil
	case n.Kind == yaml.ScalarNode:
		return n.Value, nil
	case n.Kind == yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return "", errors.New("a list may hold only values")
			}
			items = append(items, item.Value)
		}
		return strings.Join(items, ","), nil
	}
	return "", errors.New("want a value or a list of values")
}

// suggestFlag names the flag an unknown key was probably meant to be, as
// ` (did you mean "x"?)`, or "" when none is close.
func suggestFlag(fs *flag.FlagSet, key string) string {
	best, bestDist := "", 3 // at most two edits away
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFlag {
			return
		}
		if d := editDistance(strings.ReplaceAll(strings.ToLower(key), "_", "-"), f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
