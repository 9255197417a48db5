package api

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// DNS limits on a host name (RFC 1035), as the resolver applies them.
const (
	maxHostName = 253
	maxLabel    = 63
)

// checkURLForm refuses the URLs that parse but would fail, or be sent
// differently from what was written, only when the call is made:
//   - characters outside ASCII and "<>\^`{|} outside the host (spaces and
//     control characters anywhere are refused before parsing, by
//     checkURLChars): percent-encode them;
//   - a malformed percent-escape in the query;
//   - a fragment, which is never sent;
//   - a port outside 1 to 65535;
//   - a host that is not an IPv6 literal without a zone, nor a DNS name
//     the resolver accepts: at most 253 characters, labels of 1 to 63
//     letters, digits, hyphens or underscores, not starting or ending with
//     a hyphen, an optional final dot. An internationalised name is
//     checked in its ASCII form (IDNA lookup, as the HTTP client sends it).
//
// It returns u with its host in ASCII, for the network guard, or what is
// wrong.
func checkURLForm(raw string, u *url.URL) (*url.URL, string) {
	if strings.Contains(raw, "#") {
		return nil, "must not have a fragment (#…): it is never sent"
	}
	for _, part := range []string{u.RawPath, u.RawQuery} {
		if i := strings.IndexFunc(part, func(r rune) bool { return r > 0x7e || strings.ContainsRune(`"<>\^`+"`{|}", r) }); i >= 0 {
			return nil, fmt.Sprintf("must percent-encode %q in its path and query", []rune(part[i:])[0])
		}
	}
	if !validEscapes(u.RawQuery) {
		return nil, "has a % in its query that is not followed by two hex digits: write %25 for a literal %"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, "must have a port from 1 to 65535"
		}
	}
	host, msg := asciiHost(u.Hostname())
	if msg != "" {
		return nil, msg
	}
	ascii := *u
	ascii.Host = host
	if u.Port() != "" {
		ascii.Host = net.JoinHostPort(host, u.Port())
	} else if strings.Contains(host, ":") {
		ascii.Host = "[" + host + "]"
	}
	return &ascii, ""
}

// checkURLChars refuses spaces and control characters, before the URL is
// parsed (which refuses control characters less clearly).
func checkURLChars(raw string) string {
	if strings.IndexFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "must not contain spaces or control characters: percent-encode them"
	}
	return ""
}

// asciiHost checks a URL's host and returns it in ASCII.
func asciiHost(host string) (string, string) {
	if strings.Contains(host, ":") { // url.Parse admits colons only in [brackets]
		addr, err := netip.ParseAddr(host)
		if err != nil || addr.Zone() != "" {
			return "", "must have an IPv6 address without a zone (%) as its host"
		}
		return host, ""
	}
	ascii := host
	if strings.IndexFunc(host, func(r rune) bool { return r > 0x7e }) >= 0 {
		var err error
		if ascii, err = idna.Lookup.ToASCII(host); err != nil {
			return "", "must have a host that is a valid internationalised domain name"
		}
	}
	name := strings.TrimSuffix(ascii, ".")
	if len(name) > maxHostName {
		return "", fmt.Sprintf("must have a host name of at most %d characters", maxHostName)
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return "", "must not have an empty label in its host name (two dots in a row, or a leading dot)"
		case len(label) > maxLabel:
			return "", fmt.Sprintf("must have host name labels of at most %d characters", maxLabel)
		case !validLabel(label):
			return "", "must have a host name of letters, digits, hyphens and underscores, with no label starting or ending with a hyphen"
		}
	}
	return ascii, ""
}

// validLabel reports whether a DNS label is one the resolver accepts.
func validLabel(label string) bool {
	if label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validEscapes reports whether every % in s starts a %XX escape.
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return false
		}
		i += 2
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
