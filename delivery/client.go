package delivery

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns the client for outbound calls: connections reused
// across tasks, no proxy from the environment, redirects not followed (a 3xx
// is the answer), and every dial checked by guard. Per-call timeouts come
// from the request's context.
func NewHTTPClient(guard Guard) *http.Client {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   guard.Control,
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 0, // the attempt's timeout bounds it
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
