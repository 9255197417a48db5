package delivery

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"syscall"
)

// errNoAddresses is a name that resolved to no address at all.
var errNoAddresses = errors.New("no addresses")

// MaxErrorText bounds the error text recorded for one attempt or delivery.
const MaxErrorText = 512

// describe says why a round trip failed, in words fit to show the tenant.
// Go's errors name what was dialed and from where ("dial tcp
// 10.0.0.7:443", "read tcp 10.1.2.3:50412->…") and the node's DNS resolver
// ("lookup x on 127.0.0.53:53"): none of that reaches the text. Known
// classes get a fixed wording; anything else loses its URL and
// dial wrappers, then every IP address left in it, and is cut to
// MaxErrorText bytes.
func describe(err error) string {
	var dnsErr *net.DNSError
	var errno syscall.Errno
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	text := err.Error()
	switch {
	case errors.As(err, &dnsErr):
		return "DNS lookup failed: " + dnsReason(dnsErr)
	case errors.Is(err, errNoAddresses):
		return "DNS lookup failed: the name has no address"
	case strings.Contains(text, "server response headers exceeded"),
		strings.Contains(text, "response header list larger than advertised limit"):
		return "response headers too large: over 256 KiB"
	case errors.As(err, &certErr):
		return bounded("TLS handshake failed: certificate not accepted: " + scrubAddresses(certErr.Err.Error()))
	case errors.As(err, &recordErr):
		return "TLS handshake failed: the server did not answer with TLS"
	case errors.As(err, &alert):
		return bounded("TLS handshake failed: the server sent alert: " + alert.Error())
	case errors.As(err, &errno):
		if s, ok := errnoText[errno]; ok {
			return "connection failed: " + s
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection failed: closed by the server before a complete answer"
	}
	return bounded("connection failed: " + scrubAddresses(innermost(err).Error()))
}

// dnsReason is the reason a lookup failed, without the resolver's
// address, which DNSError.Error and sometimes DNSError.Err carry.
func dnsReason(e *net.DNSError) string {
	switch {
	case e.IsNotFound:
		return "no such host"
	case e.IsTimeout:
		return "timed out"
	case e.IsTemporary:
		return "temporary failure"
	default:
		return "the resolver failed"
	}
}

// errnoText words the system errors a connection meets.
var errnoText = map[syscall.Errno]string{
	syscall.ECONNREFUSED:  "connection refused",
	syscall.ECONNRESET:    "connection reset by the server",
	syscall.ECONNABORTED:  "connection aborted",
	syscall.EPIPE:         "connection closed by the server",
	syscall.ETIMEDOUT:     "connection timed out",
	syscall.EHOSTUNREACH:  "host unreachable",
	syscall.ENETUNREACH:   "network unreachable",
	syscall.ENETDOWN:      "network down",
	syscall.EADDRNOTAVAIL: "no local address available",
}

// innermost strips the wrappers that carry a URL (which may hold secrets in
// its query) or the addresses of a dial, a read or a write.
func innermost(err error) error {
	for {
		var urlErr *url.Error
		var opErr *net.OpError
		switch {
		case errors.As(err, &urlErr) && urlErr.Err != nil:
			err = urlErr.Err
		case errors.As(err, &opErr) && opErr.Err != nil:
			err = opErr.Err
		default:
			return err
		}
	}
}

// addressLike finds what may be an IP address, with a port or not:
// scrubAddresses checks each candidate with netip.
var addressLike = regexp.MustCompile(`\[?[0-9A-Fa-f]*[:.][0-9A-Fa-f:.%]*\]?(:[0-9]+)?`)

// scrubAddresses replaces every IPv4 or IPv6 address in s, with its port,
// by "[address]".
func scrubAddresses(s string) string {
	return addressLike.ReplaceAllStringFunc(s, func(m string) string {
		core := strings.TrimRight(m, ":.")
		if !isAddress(core) {
			return m
		}
		return "[address]" + m[len(core):]
	})
}

func isAddress(s string) bool {
	if _, err := netip.ParseAddrPort(s); err == nil {
		return true
	}
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

// bounded cuts s to MaxErrorText bytes.
func bounded(s string) string {
	if cut, ok := cutUTF8(s, MaxErrorText-len("…")); ok {
		return cut + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
