package reference

import (
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// schema lays out a named schema: its type, and its properties in the
// document's order (props), the rest sorted.
func schema(name string, ref *openapi3.SchemaRef, props []string) schemaView {
	v := schemaView{Name: name}
	if ref == nil || ref.Value == nil {
		return v
	}
	s := ref.Value
	v.Description, v.Type, v.Constraints = s.Description, schemaType(&openapi3.SchemaRef{Value: s}), constraints(ref)
	v.Properties = properties(s, props)
	for _, part := range s.AllOf { // the properties an inline part adds
		if part.Ref == "" && part.Value != nil {
			v.Properties = append(v.Properties, properties(part.Value, nil)...)
		}
	}
	return v
}

// properties lays out a schema's own properties, those in order first.
func properties(s *openapi3.Schema, order []string) []fieldView {
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	var out []fieldView
	for _, p := range componentNames(s.Properties, order) {
		prop := s.Properties[p]
		f := fieldView{Name: p, Required: required[p], Type: schemaType(prop), Constraints: constraints(prop)}
		if prop.Value != nil {
			f.Description = prop.Value.Description
		}
		out = append(out, f)
	}
	return out
}

// schemaType names a schema's type as HTML: a named schema links to its
// section; arrays, maps and compositions say of what.
func schemaType(ref *openapi3.SchemaRef) template.HTML {
	if ref == nil {
		return "any"
	}
	if name, ok := strings.CutPrefix(ref.Ref, "#/components/schemas/"); ok {
		e := template.HTMLEscapeString(name)
		return template.HTML(`<a href="#schema-` + e + `">` + e + `</a>`)
	}
	s := ref.Value
	if s == nil {
		return "any"
	}
	for _, c := range []struct {
		refs openapi3.SchemaRefs
		word string
	}{{s.AllOf, " and "}, {s.OneOf, " or "}, {s.AnyOf, " or "}} {
		if len(c.refs) > 0 {
			parts := make([]string, len(c.refs))
			for i, r := range c.refs {
				parts[i] = string(schemaType(r))
			}
			return template.HTML(strings.Join(parts, c.word))
		}
	}
	types := s.Type.Slice()
	switch {
	case len(types) == 0:
		return "any"
	case s.Type.Is("array"):
		return "array of " + schemaType(s.Items)
	case s.Type.Is("object") && s.AdditionalProperties.Schema != nil && len(s.Properties) == 0:
		return "object of " + schemaType(s.AdditionalProperties.Schema)
	}
	t := template.HTMLEscapeString(strings.Join(types, " or "))
	if s.Format != "" {
		t += " (" + template.HTMLEscapeString(s.Format) + ")"
	}
	return template.HTML(t)
}

// constraints sums up what a schema allows: enum or const, default,
// bounds, pattern, examples.
func constraints(ref *openapi3.SchemaRef) string {
	if ref == nil || ref.Value == nil || ref.Ref != "" {
		return ""
	}
	s := ref.Value
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if len(s.Enum) > 0 {
		values := make([]string, len(s.Enum))
		for i, e := range s.Enum {
			values[i] = fmt.Sprint(e)
		}
		add("one of %s", strings.Join(values, ", "))
	}
	if s.Const != nil {
		add("always %v", s.Const)
	}
	if s.Default != nil {
		add("default %v", s.Default)
	}
	if s.Min != nil {
		add("at least %v", *s.Min)
	}
	if s.Max != nil {
		add("at most %v", *s.Max)
	}
	if s.MinLength > 0 {
		add("%d+ characters", s.MinLength)
	}
	if s.MaxLength != nil {
		add("up to %d characters", *s.MaxLength)
	}
	if s.Pattern != "" {
		add("matching %s", s.Pattern)
	}
	if len(s.Examples) > 0 {
		examples := make([]string, len(s.Examples))
		for i, e := range s.Examples {
			examples[i] = fmt.Sprint(e)
		}
		sort.Strings(examples)
		add("e.g. %s", strings.Join(examples, ", "))
	}
	return strings.Join(out, "; ")
}
