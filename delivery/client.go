package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Resolver finds the addresses of a host name. *net.Resolver is one; tests
// pass one that maps names to chosen addresses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ClientOptions tunes the outbound HTTP client.
type ClientOptions struct {
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// DialTimeout bounds one connection attempt (default 10 s).
	DialTimeout time.Duration
}

// NewHTTPClient returns the client for outbound calls: connections reused
// across tasks, no proxy from the environment, redirects not followed (a 3xx
// is the answer), and every connection made only to an address guard
// allows. It resolves names itself and dials the address it checked, so a
// name cannot be rebound to a blocked address between check and connection;
// the dialer's Control hook checks the socket's address once more. Per-call
// timeouts come from the request's context.
func NewHTTPClient(guard Guard, opts ClientOptions) *http.Client {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second, Control: guard.Control}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           guardedDial(guard, opts.Resolver, dialer),
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Go's default is 10 MB: a target could make every attempt read
		// that much before it is cut down to what is kept.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// guardedDial resolves the host, drops the addresses the guard refuses, and
// dials the others in turn. The call's phases (tracePhases), when ctx
// carries them, get the time spent resolving as DNS and the time spent
// dialing as connect: the resolution is the guard's own, so no httptrace
// DNS hook would see it.
func guardedDial(guard Guard, resolver Resolver, dialer *net.Dialer) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		p := dialPhases(ctx)
		var addrs []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{ip}
		} else {
			began := p.clock()
			addrs, err = resolver.LookupNetIP(ctx, "ip", host)
			p.addDNS(began)
			if err != nil {
				return nil, fmt.Errorf("resolve %s: %w", host, err)
			}
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("resolve %s: %w", host, errNoAddresses)
		}
		defer p.addConnect(p.clock())
		var errs []error
		for _, ip := range addrs {
			if err := guard.CheckAddr(ip); err != nil {
				errs = append(errs, err)
				continue
			}
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}
