// Package docs holds Boomerang's documents that the server itself serves:
// the OpenAPI description of its HTTP API.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml, the API's contract, served at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
