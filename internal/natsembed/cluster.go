package natsembed

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster makes the embedded server one of a JetStream cluster of
// embedded servers: every node of an embedded cluster runs one, and they
// route to each other. Three of them keep every replicated stream
// available while any one is down.
type Cluster struct {
	// Name is the cluster's name, the same on every server.
	Name string
	// ServerName is this server's name, unique in the cluster: stream
	// and meta leaders are named by it.
	ServerName string
	// Host and Port are where the server listens for the others' routes.
	Host string
	Port int
	// Routes are the URLs (nats://host:port) of the other servers'
	// cluster ports. The server's own may be among them (a route to
	// itself is dropped), so every server can be given the same list.
	Routes []string
	// Secret, when set, is what routes authenticate with, both ways.
	// Without it anyone who reaches the cluster port joins the cluster
	// and reads everything the streams hold.
	Secret string
	// TLS, when not nil, is the routes' TLS configuration, used both to
	// accept and to dial (so it needs a certificate, and the roots that
	// verify the others').
	TLS *tls.Config
}

// routeUser is the user routes authenticate as, with the cluster secret.
const routeUser = "boomerang"

// routeTLSTimeout bounds a route's TLS handshake, in seconds.
const routeTLSTimeout = 5

// apply sets the server's cluster options.
func (c *Cluster) apply(opts *server.Options) error {
	switch {
	case c.Name == "":
		return errors.New("natsembed: a cluster needs a name")
	case c.ServerName == "":
		return errors.New("natsembed: a server of a cluster needs a name of its own")
	case c.Port <= 0:
		return errors.New("natsembed: a cluster needs a port to listen on")
	}
	opts.ServerName = c.ServerName
	opts.Cluster = server.ClusterOpts{
		Name: c.Name, Host: c.Host, Port: c.Port,
		// Clients are given no other servers' addresses: this node's own
		// connections are in-process, and other clients are told theirs.
		NoAdvertise: true,
	}
	if c.Secret != "" {
		opts.Cluster.Username, opts.Cluster.Password = routeUser, c.Secret
	}
	if c.TLS != nil {
		opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = c.TLS, routeTLSTimeout
	}
	for _, r := range c.Routes {
		u, err := url.Parse(r)
		switch {
		case err == nil && u.User != nil: // not shown: it may hold a password
			return errors.New("natsembed: a route's URL has a user: routes authenticate with the cluster secret")
		case err != nil || u.Host == "" || u.Port() == "":
			return fmt.Errorf("natsembed: route %q: want nats://host:port", r)
		}
		if c.Secret != "" {
			// nats-server authenticates a configured route with the
			// user in its URL.
			u.User = url.UserPassword(routeUser, c.Secret)
		}
		opts.Routes = append(opts.Routes, u)
	}
	return nil
}
