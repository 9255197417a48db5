// Package reference renders the API reference that /docs serves: one HTML
// page made on the server from the OpenAPI description (docs/openapi.yaml)
// when the node starts, with its stylesheet, and no script at all, so that
// it needs nothing from anywhere else and works without JavaScript.
package reference

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"html/template"

	"github.com/getkin/kin-openapi/openapi3"
)

//go:embed reference.html
var pageTemplate string

//go:embed reference.css
var stylesheet []byte

// ContentSecurityPolicy allows the page its own stylesheet and nothing else:
// no script, no frame, no form, nothing from another origin.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Reference is the rendered API reference.
type Reference struct {
	page     []byte
	css      []byte
	cssName  string
	basePath string
}

// New renders the reference of an OpenAPI document; the page links its
// stylesheet under basePath (such as "/docs"). It fails when the document
// does not load or validate, or the page does not render: defects of the
// build.
func New(spec []byte, basePath string) (*Reference, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("reference: load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("reference: validate: %w", err)
	}
	order, err := documentOrder(spec)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	sum := sha256.Sum256(stylesheet)
	r := &Reference{css: stylesheet, cssName: "reference." + hex.EncodeToString(sum[:6]) + ".css", basePath: basePath}
	t, err := template.New("reference").Funcs(template.FuncMap{"prose": prose}).Parse(pageTemplate)
	if err != nil {
		return nil, fmt.Errorf("reference: template: %w", err)
	}
	data := buildPage(doc, order)
	data.Stylesheet = basePath + "/" + r.cssName
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("reference: render: %w", err)
	}
	r.page = buf.Bytes()
	return r, nil
}

// Page is the reference's HTML.
func (r *Reference) Page() []byte { return r.page }

// Asset returns the stylesheet when name is its (fingerprinted) name.
func (r *Reference) Asset(name string) ([]byte, bool) {
	if name != r.cssName {
		return nil, false
	}
	return r.css, true
}
