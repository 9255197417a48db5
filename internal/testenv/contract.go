package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Contract checks requests and responses against the OpenAPI description.
type Contract struct {
	Doc    *openapi3.T
	router routers.Router
}

var registerDecoders sync.Once

// LoadContract parses and validates an OpenAPI document.
func LoadContract(spec []byte) (*Contract, error) {
	registerDecoders.Do(func() {
		raw := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			data, err := io.ReadAll(body)
			return string(data), err
		}
		openapi3filter.RegisterBodyDecoder("text/event-stream", raw)
		openapi3filter.RegisterBodyDecoder("application/yaml", raw)
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	// Match paths on any host: tests listen on random ports.
	routable := *doc
	routable.Servers = nil
	router, err := gorillamux.NewRouter(&routable)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &Contract{Doc: doc, router: router}, nil
}

var options = &openapi3filter.Options{
	AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
	IncludeResponseStatus: true,
	MultiError:            true,
}

// Check reports, as test errors, where an exchange departs from the
// contract: a response that does not match its documented status, headers
// and body; a success on a route the contract lacks; or a request the
// contract calls invalid that the server did not refuse with a 4xx.
func (c *Contract) Check(tb testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) {
	tb.Helper()
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		if status < 400 && !strings.HasPrefix(req.URL.Path, "/dev/") {
			tb.Errorf("contract: %s %s answered %d but is not in the API description", req.Method, req.URL.Path, status)
		}
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: options}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && (status < 400 || status >= 500) {
		tb.Errorf("contract: %s %s is invalid per the description (%v) yet answered %d", req.Method, req.URL.Path, err, status)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: status, Header: header,
		Body: io.NopCloser(bytes.NewReader(respBody)), Options: options,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		tb.Errorf("contract: response to %s %s (%d) does not match the description: %v\nbody: %.500s", req.Method, req.URL.Path, status, err, respBody)
	}
}
