package client

import (
	"context"
	"net/http"
	"net/url"
)

// FlowControl bounds the tenant's tasks with the same Key, across every
// node: at most Parallelism attempts in flight, at most Rate started per
// Period ("1s" when empty). Give Rate, Parallelism or both.
type FlowControl struct {
	Key         string `json:"key"`
	Rate        int    `json:"rate,omitempty"`
	Period      string `json:"period,omitempty"`
	Parallelism int    `json:"parallelism,omitempty"`
}

// WithOrderingKey runs the task after the tenant's tasks created before it
// with the same key, one at a time. Not together with WithFlowControl.
func WithOrderingKey(key string) CreateOption {
	return func(r *createRequest) { r.OrderingKey = key }
}

// WithFlowControl puts the task under a flow-control key. Not together
// with WithOrderingKey.
func WithFlowControl(fc FlowControl) CreateOption {
	return func(r *createRequest) { r.FlowControl = &fc }
}

// KeyInfo is an ordering or flow-control key as the API shows it.
type KeyInfo struct {
	Key         string `json:"key"`
	Kind        string `json:"kind"` // "ordering" or "flowControl"
	Parallelism int    `json:"parallelism,omitempty"`
	Rate        int    `json:"rate,omitempty"`
	Period      string `json:"period,omitempty"`
	Paused      bool   `json:"paused"`
	// Waiting is how many tasks wait in the key's queue, InFlight how
	// many hold a slot.
	Waiting  int `json:"waiting"`
	InFlight int `json:"inFlight"`
	// Holding are the tasks holding a slot; Queue the first waiting ones,
	// in the order they will run.
	Holding []string `json:"holding"`
	Queue   []string `json:"queue"`
}

// Key paths of the API.
const (
	flowControlPath = "/v1/flow-control/"
	orderingKeyPath = "/v1/ordering-keys/"
)

// FlowControlKey returns a flow-control key; a key no task has used is a
// problem of kind KindNotFound.
func (c *Client) FlowControlKey(ctx context.Context, key string) (*KeyInfo, error) {
	return c.keyCall(ctx, http.MethodGet, flowControlPath, key, "")
}

// PauseFlowControl stops the key's admissions; tasks in flight go on.
func (c *Client) PauseFlowControl(ctx context.Context, key string) (*KeyInfo, error) {
	return c.keyCall(ctx, http.MethodPost, flowControlPath, key, "/pause")
}

// ResumeFlowControl lets a paused key admit its waiting tasks again.
func (c *Client) ResumeFlowControl(ctx context.Context, key string) (*KeyInfo, error) {
	return c.keyCall(ctx, http.MethodPost, flowControlPath, key, "/resume")
}

// OrderingKey returns an ordering key, with its queue in order.
func (c *Client) OrderingKey(ctx context.Context, key string) (*KeyInfo, error) {
	return c.keyCall(ctx, http.MethodGet, orderingKeyPath, key, "")
}

func (c *Client) keyCall(ctx context.Context, method, base, key, action string) (*KeyInfo, error) {
	var info KeyInfo
	if _, err := c.do(ctx, request{method: method, path: base + url.PathEscape(key) + action}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}
