package delivery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
)

// ErrBlockedAddress is returned for a URL or connection to an address the
// Guard refuses: loopback, private, link-local and other internal ranges.
var ErrBlockedAddress = errors.New("address is on a blocked network")

// blockedPrefixes are the networks no outbound call may reach unless the
// operator allows them. IPv4-mapped and NAT64 addresses are unwrapped to
// their IPv4 address before the check.
var blockedPrefixes = mustPrefixes(
	"0.0.0.0/8",       // "this" network
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // carrier-grade NAT
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // documentation
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // documentation
	"203.0.113.0/24",  // documentation
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, broadcast
	"::/128",          // unspecified
	"::1/128",         // loopback
	"64:ff9b:1::/48",  // local-use NAT64
	"100::/64",        // discard
	"2001:db8::/32",   // documentation
	"fc00::/7",        // unique local
	"fe80::/10",       // link-local
	"fec0::/10",       // site-local (deprecated)
	"ff00::/8",        // multicast
)

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Guard decides which addresses outbound calls may reach. The zero Guard
// blocks every internal network.
type Guard struct {
	// AllowPrivate turns the guard off (for --dev and
	// --allow-private-networks).
	AllowPrivate bool
	// Allow lists internal networks that may be reached all the same.
	Allow []netip.Prefix
}

// CheckAddr returns ErrBlockedAddress when addr may not be reached.
func (g Guard) CheckAddr(addr netip.Addr) error {
	if g.AllowPrivate {
		return nil
	}
	addr = addr.Unmap().WithZone("")
	if nat64.Contains(addr) {
		b := addr.As16()
		addr = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, p := range g.Allow {
		if p.Contains(addr) {
			return nil
		}
	}
	for _, p := range blockedPrefixes {
		if p.Contains(addr) {
			return fmt.Errorf("%w: %s", ErrBlockedAddress, addr)
		}
	}
	return nil
}

// CheckURL checks a URL when a task is created: http or https, a host, and
// not localhost or a literal address on a blocked network, in any of the
// notations resolvers accept (127.1, 0x7f.1, 2130706433, 0177.0.0.1). Names
// are checked again when dialed, since DNS can change.
func (g Guard) CheckURL(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an http or https URL")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("must have a host")
	}
	if u.User != nil {
		return errors.New("must not contain credentials; use headers")
	}
	if g.AllowPrivate {
		return nil
	}
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, host)
	}
	if addr, ok := parseLiteral(lower); ok {
		return g.CheckAddr(addr)
	}
	return nil
}

// Control is a net.Dialer Control hook: it checks the address actually being
// dialed, after DNS resolution, so a name cannot be rebound to a blocked
// address between the check and the connection.
func (g Guard) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: unparsable %q", ErrBlockedAddress, host)
	}
	return g.CheckAddr(addr)
}

// parseLiteral parses host as an IP address in the notations of inet_aton
// (one to four parts, each decimal, octal with a leading 0 or hex with 0x)
// or as an IPv6 address.
func parseLiteral(host string) (netip.Addr, bool) {
	if addr, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return addr, true
	}
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 0, 32)
		if err != nil || p == "" {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	// The last part fills the remaining bytes.
	var ip uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		ip |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	ip |= last
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}
