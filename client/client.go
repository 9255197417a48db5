package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Version is this package's version, sent in the User-Agent.
const Version = "1.0.0"

// maxAnswer bounds the answers read: a task with its attempts is at most a
// few MiB.
const maxAnswer = 64 << 20

// Client calls one Boomerang server with one API key. It is safe for
// concurrent use.
type Client struct {
	base      *url.URL
	apiKey    string
	http      *http.Client
	userAgent string
}

// Option changes a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc (by default
// an http.Client without a timeout: long-polls and event streams last, so
// bound calls with their context).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithUserAgent puts ua before the client's own User-Agent.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua + " " + c.userAgent }
}

// New returns a client of the server at baseURL (such as
// "https://boomerang.example.com") that sends apiKey. It returns an error
// when baseURL is not an absolute http or https URL.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("boomerang: the server URL %q is not an absolute http or https URL", baseURL)
	}
	c := &Client{base: u, apiKey: apiKey, http: &http.Client{}, userAgent: "boomerang-go/" + Version}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// BaseURL returns the server's URL, as New took it.
func (c *Client) BaseURL() string { return c.base.String() }

// request is one API call.
type request struct {
	method string
	path   string // with its query string
	body   any    // sent as JSON when not nil
	header http.Header
}

// newRequest builds the HTTP request of r.
func (c *Client) newRequest(ctx context.Context, r request) (*http.Request, error) {
	var body io.Reader
	if r.body != nil {
		data, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("boomerang: encode request: %w", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base.String()+r.path, body)
	if err != nil {
		return nil, fmt.Errorf("boomerang: %w", err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	return req, nil
}

// do sends r and decodes a successful answer's JSON into out (when not
// nil); an error answer is a *Problem. It returns the answer, its body
// read and closed.
func (c *Client) do(ctx context.Context, r request, out any) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("boomerang: %s %s: %w", r.method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp, fmt.Errorf("boomerang: read the answer to %s %s: %w", r.method, req.URL.Path, err)
	}
	if resp.StatusCode >= 400 {
		return resp, problemOf(resp, body)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(body, out); err != nil {
			return resp, fmt.Errorf("boomerang: decode the answer to %s %s: %w", r.method, req.URL.Path, err)
		}
	}
	return resp, nil
}

// taskPath is the path of a task, or of one of its resources (rest).
func taskPath(id string, rest ...string) string {
	p := "/v1/tasks/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// errEmptyID is what the task methods return for an empty id.
var errEmptyID = errors.New("boomerang: empty task id")
