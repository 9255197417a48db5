package reference

import (
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// The page's data: the document laid out for the template.
type (
	pageData struct {
		Title, Version, Summary, Description string
		Stylesheet                           string
		Groups                               []group
		Security                             []namedText
		Schemas                              []schemaView
	}
	// group is the operations of one tag.
	group struct {
		Name       string
		Operations []operationView
	}
	operationView struct {
		Anchor, Method, Path, Summary, Description string
		Security                                   []string // "none" for a public route
		Parameters                                 []fieldView
		Body                                       []contentView
		Responses                                  []responseView
	}
	responseView struct {
		Status, Description string
		Headers             []fieldView
		Content             []contentView
	}
	contentView struct {
		MediaType string
		Type      template.HTML
	}
	// fieldView is a parameter, a header or a property.
	fieldView struct {
		Name, In, Description, Constraints string
		Required                           bool
		Type                               template.HTML
	}
	schemaView struct {
		Name, Description, Constraints string
		Type                           template.HTML
		Properties                     []fieldView
	}
	namedText struct{ Name, Text string }
)

// methods are the HTTP methods in the order the reference lists them.
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// buildPage lays the document out: its operations grouped by their first
// tag (in the order of the document's tags), then its security schemes
// and its schemas.
func buildPage(doc *openapi3.T, o order) pageData {
	p := pageData{Title: doc.Info.Title, Version: doc.Info.Version, Summary: doc.Info.Summary, Description: doc.Info.Description}
	byTag := map[string]*group{}
	for _, t := range doc.Tags {
		p.Groups = append(p.Groups, group{Name: t.Name})
	}
	for i := range p.Groups {
		byTag[p.Groups[i].Name] = &p.Groups[i]
	}
	var other group
	for _, path := range o.paths {
		item := doc.Paths.Value(path)
		if item == nil {
			continue
		}
		for _, m := range methods {
			op := item.GetOperation(m)
			if op == nil {
				continue
			}
			g := &other
			if len(op.Tags) > 0 && byTag[op.Tags[0]] != nil {
				g = byTag[op.Tags[0]]
			}
			g.Operations = append(g.Operations, operation(doc, path, m, item, op))
		}
	}
	if len(other.Operations) > 0 {
		other.Name = "other"
		p.Groups = append(p.Groups, other)
	}
	for _, name := range componentNames(doc.Components.SecuritySchemes, nil) {
		s := doc.Components.SecuritySchemes[name].Value
		p.Security = append(p.Security, namedText{Name: name, Text: schemeText(s)})
	}
	for _, name := range componentNames(doc.Components.Schemas, o.schemas) {
		p.Schemas = append(p.Schemas, schema(name, doc.Components.Schemas[name], o.properties[name]))
	}
	return p
}

// componentNames lists a component map's names: those in first, in its
// order, then the rest sorted.
func componentNames[T any](m map[string]T, first []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range first {
		if _, ok := m[n]; ok && !seen[n] {
			out, seen[n] = append(out, n), true
		}
	}
	var rest []string
	for n := range m {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(out, rest...)
}

func schemeText(s *openapi3.SecurityScheme) string {
	how := s.Type
	switch {
	case s.Type == "http" && s.Scheme == "bearer":
		how = "Authorization: Bearer"
	case s.Type == "apiKey":
		how = fmt.Sprintf("%s %s", s.In, s.Name)
	}
	return how + ". " + s.Description
}

// operation lays out one operation of a path.
func operation(doc *openapi3.T, path, method string, item *openapi3.PathItem, op *openapi3.Operation) operationView {
	v := operationView{Method: method, Path: path, Summary: op.Summary, Description: op.Description}
	v.Anchor = "op-" + op.OperationID
	if op.OperationID == "" {
		v.Anchor = "op-" + strings.ToLower(method) + strings.NewReplacer("/", "-", "{", "", "}", "").Replace(path)
	}
	security := doc.Security
	if op.Security != nil {
		security = *op.Security
	}
	for _, req := range security {
		for name := range req {
			v.Security = append(v.Security, name)
		}
	}
	sort.Strings(v.Security)
	if len(v.Security) == 0 {
		v.Security = []string{"none"}
	}
	for _, params := range []openapi3.Parameters{item.Parameters, op.Parameters} {
		for _, p := range params {
			if p.Value == nil {
				continue
			}
			v.Parameters = append(v.Parameters, fieldView{Name: p.Value.Name, In: p.Value.In, Required: p.Value.Required,
				Description: p.Value.Description, Type: schemaType(p.Value.Schema), Constraints: constraints(p.Value.Schema)})
		}
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		v.Body = contents(op.RequestBody.Value.Content)
	}
	v.Responses = responses(op.Responses)
	return v
}

// responses lays out an operation's responses by status, default last.
func responses(rs *openapi3.Responses) []responseView {
	if rs == nil {
		return nil
	}
	codes := make([]string, 0, rs.Len())
	for code := range rs.Map() {
		codes = append(codes, code)
	}
	sort.Slice(codes, func(i, j int) bool { return statusRank(codes[i]) < statusRank(codes[j]) })
	var out []responseView
	for _, code := range codes {
		r := rs.Value(code).Value
		if r == nil {
			continue
		}
		v := responseView{Status: code, Content: contents(r.Content)}
		if r.Description != nil {
			v.Description = *r.Description
		}
		for _, name := range componentNames(r.Headers, nil) {
			if h := r.Headers[name].Value; h != nil {
				v.Headers = append(v.Headers, fieldView{Name: name, Description: h.Description, Type: schemaType(h.Schema)})
			}
		}
		out = append(out, v)
	}
	return out
}

func statusRank(code string) int {
	if n, err := strconv.Atoi(code); err == nil {
		return n
	}
	return 1000 // default
}

func contents(c openapi3.Content) []contentView {
	var out []contentView
	for _, mt := range componentNames(c, nil) {
		out = append(out, contentView{MediaType: mt, Type: schemaType(c[mt].Schema)})
	}
	return out
}
