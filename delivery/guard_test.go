package delivery

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"
)

func TestGuardCheckAddr(t *testing.T) {
	t.Parallel()
	blocked := []string{
		"127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
		"169.254.169.254", "0.0.0.0", "0.1.2.3", "224.0.0.1", "255.255.255.255",
		"::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1",
	}
	allowed := []string{"93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"}
	var g Guard
	for _, s := range blocked {
		if err := g.CheckAddr(netip.MustParseAddr(s)); !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("%s: got %v, want blocked", s, err)
		}
	}
	for _, s := range allowed {
		if err := g.CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s: got %v, want allowed", s, err)
		}
	}
	allowList := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
	if err := allowList.CheckAddr(netip.MustParseAddr("10.1.2.3")); err != nil {
		t.Errorf("allowed CIDR: got %v, want nil", err)
	}
	if err := allowList.CheckAddr(netip.MustParseAddr("10.2.0.1")); err == nil {
		t.Error("outside the allowed CIDR: got nil, want blocked")
	}
	if err := (Guard{AllowPrivate: true}).CheckAddr(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("AllowPrivate: got %v, want nil", err)
	}
}

func TestGuardCheckURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		blocked bool
		invalid bool
	}{
		{"https://example.com/x", false, false},
		{"http://8.8.8.8/", false, false},
		{"http://localhost:8080/", true, false},
		{"http://api.localhost/", true, false},
		{"http://LOCALHOST./", true, false},
		{"http://127.1/", true, false},
		{"http://2130706433/", true, false},
		{"http://0x7f000001/", true, false},
		{"http://0177.0.0.1/", true, false},
		{"http://0x7f.0.0.1/", true, false},
		{"http://[::1]:80/", true, false},
		{"http://[::ffff:169.254.169.254]/", true, false},
		{"http://10.0.0.1/", true, false},
		{"ftp://example.com/", false, true},
		{"http://user:pw@example.com/", false, true},
		{"http:///nohost", false, true},
	}
	var g Guard
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		err = g.CheckURL(u)
		switch {
		case tt.blocked && !errors.Is(err, ErrBlockedAddress):
			t.Errorf("%s: got %v, want blocked", tt.url, err)
		case tt.invalid && (err == nil || errors.Is(err, ErrBlockedAddress)):
			t.Errorf("%s: got %v, want invalid", tt.url, err)
		case !tt.blocked && !tt.invalid && err != nil:
			t.Errorf("%s: got %v, want nil", tt.url, err)
		}
	}
}

func TestGuardControlChecksDialedAddress(t *testing.T) {
	t.Parallel()
	var g Guard
	if err := g.Control("tcp", "127.0.0.1:80", nil); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("dial to loopback: got %v, want blocked", err)
	}
	if err := g.Control("tcp", "[fe80::1%eth0]:80", nil); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("dial to link-local with zone: got %v, want blocked", err)
	}
	if err := g.Control("tcp", "93.184.216.34:443", nil); err != nil {
		t.Errorf("dial to a public address: got %v, want nil", err)
	}
}

// mapResolver resolves names to fixed addresses, like a hostile DNS.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestClientRefusesNamesThatResolveToBlockedAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	resolver := mapResolver{
		"loopback.evil.example": {netip.MustParseAddr("127.0.0.1")},
		"metadata.evil.example": {netip.MustParseAddr("169.254.169.254")},
		"mapped.evil.example":   {netip.MustParseAddr("::ffff:127.0.0.1")},
		"nat64.evil.example":    {netip.MustParseAddr("64:ff9b::7f00:1")},
		"mixed.evil.example":    {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")},
		"allowed.example":       {netip.MustParseAddr("127.0.0.1")},
	}
	blocked := NewHTTPClient(Guard{}, ClientOptions{Resolver: resolver, DialTimeout: time.Second})
	for name := range resolver {
		if name == "allowed.example" {
			continue
		}
		resp, err := blocked.Get("http://" + name + ":" + port + "/")
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: connected, want refused", name)
			continue
		}
		if !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("%s: got %v, want ErrBlockedAddress", name, err)
		}
	}
	// An operator's allow-list opens a range again.
	allowed := NewHTTPClient(Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, ClientOptions{Resolver: resolver})
	resp, err := allowed.Get("http://allowed.example:" + port + "/")
	if err != nil {
		t.Fatalf("allowed range: %v", err)
	}
	resp.Body.Close()
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data", http.StatusFound)
	}))
	defer srv.Close()
	c := NewHTTPClient(Guard{AllowPrivate: true}, ClientOptions{})
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || hits != 1 {
		t.Fatalf("got %d after %d hits, want the 302 itself", resp.StatusCode, hits)
	}
}
