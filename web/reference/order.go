package reference

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// order is the order in which the document lists its paths, its schemas
// and each schema's properties: the reference keeps it, where the parsed
// document has maps.
type order struct {
	paths, schemas []string
	properties     map[string][]string // schema name -> property names
}

// documentOrder reads the order of an OpenAPI document's keys.
func documentOrder(spec []byte) (order, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(spec, &doc); err != nil || len(doc.Content) == 0 {
		return order{}, fmt.Errorf("parse: %v", err)
	}
	root := doc.Content[0]
	o := order{paths: keys(member(root, "paths")), properties: map[string][]string{}}
	schemas := member(member(root, "components"), "schemas")
	o.schemas = keys(schemas)
	for _, name := range o.schemas {
		o.properties[name] = keys(member(member(schemas, name), "properties"))
	}
	return o, nil
}

// member returns the value of key in a mapping node, nil when absent.
func member(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// keys returns the keys of a mapping node in order.
func keys(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}
