package testenv

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// ContractTransport checks every exchange that goes through it against
// the contract, as Client.Do does, for clients that make their own
// requests: the Go client package and the CLI. The body of an event
// stream is not read here (it reaches the caller as it comes): its status
// and headers are checked.
type ContractTransport struct {
	TB       testing.TB
	Contract *Contract
	// Base sends the requests (http.DefaultTransport when nil).
	Base http.RoundTripper
}

// RoundTrip sends req and checks the exchange.
func (t *ContractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.GetBody != nil {
		if rc, err := req.GetBody(); err == nil {
			reqBody, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Contract.Check(t.TB, req, reqBody, resp.StatusCode, resp.Header, nil)
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	t.Contract.Check(t.TB, req, reqBody, resp.StatusCode, resp.Header, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
