package delivery

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/signing"
)

// startDNS runs a DNS server on 127.0.0.1 that answers every question with
// "no such name", and returns its address.
func startDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			answer := dnsmessage.Message{
				Header:    dnsmessage.Header{ID: q.ID, Response: true, RecursionAvailable: true, RCode: dnsmessage.RCodeNameError},
				Questions: q.Questions,
			}
			if out, err := answer.Pack(); err == nil {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// resolverAt is Go's own resolver, sending its queries to addr.
func resolverAt(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", addr)
	}}
}

// closedPort returns an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestAttemptErrorsNameNoAddress makes calls fail in the ways that put an
// address in Go's error text — a name the resolver does not know, a
// resolver that cannot be reached, a refused connection — and checks that
// the recorded error says what happened without any address: not the
// resolver's, not this node's, not the one dialed.
func TestAttemptErrorsNameNoAddress(t *testing.T) {
	t.Parallel()
	dns := startDNS(t)
	refused := closedPort(t, "tcp")
	_, refusedPort, _ := net.SplitHostPort(refused)
	tests := []struct {
		name     string
		resolver Resolver
		url      string
		want     string
	}{
		{"no such host", resolverAt(dns), "http://nowhere.example./", "DNS lookup failed: no such host"},
		{"resolver unreachable", resolverAt(closedPort(t, "udp")), "http://nowhere.example./", "DNS lookup failed: "},
		{"no address", mapResolver{"empty.example": {}}, "http://empty.example/", "DNS lookup failed: the name has no address"},
		{"connection refused", nil, "http://" + refused + "/", "connection failed: connection refused"},
		{"refused by name", mapResolver{"svc.example": {netip.MustParseAddr("127.0.0.1")}}, "http://svc.example:" + refusedPort + "/", "connection failed: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := NewHTTPClient(Guard{AllowPrivate: true}, ClientOptions{Resolver: tt.resolver, DialTimeout: 5 * time.Second})
			caller := NewCaller(client, staticSecrets{make(signing.Secret, 32)}, 0, nil)
			res := caller.Call(context.Background(), broker.CallRequest{TenantID: "t", TaskID: "tsk_1", Attempt: 1,
				Spec: broker.Spec{TargetURL: tt.url, Method: "GET", Timeout: 20}})
			notifier := NewNotifier(client, staticSecrets{make(signing.Secret, 32)}, 20*time.Second, nil)
			note := notifier.Notify(context.Background(), broker.Notification{TenantID: "t", TaskID: "tsk_1", URL: tt.url, Status: broker.StatusSucceeded})
			for who, text := range map[string]string{"attempt": res.Error, "delivery": note.Error} {
				if !strings.HasPrefix(text, tt.want) || (strings.HasSuffix(tt.want, ": ") && text == tt.want) {
					t.Errorf("%s error: got %q, want %q", who, text, tt.want)
				}
				for _, leak := range []string{"127.0.0.", "::1", ":53", refusedPort, "dial ", "lookup nowhere", " on "} {
					if strings.Contains(text, leak) {
						t.Errorf("%s error %q reveals %q", who, text, leak)
					}
				}
			}
			if res.Outcome != broker.OutcomeRetry {
				t.Errorf("outcome: got %s, want retry", res.Outcome)
			}
			// A refused connection is a sign of overload to adaptive
			// concurrency; a failed lookup is not.
			if want := strings.Contains(tt.want, "refused"); res.Refused != want {
				t.Errorf("refused: got %v, want %v", res.Refused, want)
			}
		})
	}
}

func TestScrubAddresses(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"lookup x on 127.0.0.53:53: no such host":                   "lookup x on [address]: no such host",
		"dial udp 10.0.0.2:53: connect: network is unreachable":     "dial udp [address]: connect: network is unreachable",
		"read tcp 10.1.2.3:50412->93.184.216.34:443: read: reset":   "read tcp [address]->[address]: read: reset",
		"dial tcp [2001:db8::1]:443: i/o timeout":                   "dial tcp [address]: i/o timeout",
		"proxyconnect tcp: dial tcp [::1]:3128: connection refused": "proxyconnect tcp: dial tcp [address]: connection refused",
		"valid for fd00::5, not 192.168.1.1.":                       "valid for [address], not [address].",
		"at 16:37:57 on 2026-12-01, version 1.5, cafe:babe":         "at 16:37:57 on 2026-12-01, version 1.5, cafe:babe",
	}
	for in, want := range tests {
		if got := scrubAddresses(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestDescribeBoundsLongErrors(t *testing.T) {
	t.Parallel()
	// A certificate error names every name in the server's certificate:
	// the target decides how long it is.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	res := callOnce(t, srv.URL, 10)
	if res.Outcome != broker.OutcomeRetry || !strings.HasPrefix(res.Error, "TLS handshake failed: certificate not accepted: x509: ") {
		t.Fatalf("got %s %q, want a TLS failure", res.Outcome, res.Error)
	}
	if got := bounded(strings.Repeat("é", MaxErrorText)); len(got) > MaxErrorText || !strings.HasSuffix(got, "é…") {
		t.Errorf("bounded: got %d bytes ending %q", len(got), got[len(got)-8:])
	}
}
