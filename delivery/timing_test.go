package delivery

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
	"github.com/boomerang-dev/boomerang/signing"
)

// Delays the timing tests inject: each phase they slow must last at least
// as long (a lower bound, which a busy machine only makes longer).
const (
	dnsDelay  = 30 * time.Millisecond
	ttfbDelay = 60 * time.Millisecond
	bodyDelay = 40 * time.Millisecond
)

// slowResolver resolves like mapResolver after a pause, as a slow DNS
// server would.
type slowResolver struct {
	mapResolver
	pause time.Duration
}

func (r slowResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	select {
	case <-time.After(r.pause):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return r.mapResolver.LookupNetIP(ctx, network, host)
}

// slowTLSTarget is an https server that waits ttfbDelay before its first
// byte (the headers and the start of the body), then bodyDelay before the
// rest of the body. Its URL names example.com (its certificate's name),
// which client resolves, slowly, to the server; client trusts its
// certificate, and keeps connections alive.
func slowTLSTarget(t *testing.T) (target string, client *http.Client) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(ttfbDelay)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("first part, "))
		w.(http.Flusher).Flush()
		time.Sleep(bodyDelay)
		_, _ = w.Write([]byte("and the rest"))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	addr := netip.MustParseAddrPort(u.Host)
	client = NewHTTPClient(Guard{AllowPrivate: true}, ClientOptions{
		Resolver: slowResolver{mapResolver{"example.com": {addr.Addr()}}, dnsDelay},
	})
	// The server's certificate, as the test's client trusts it.
	client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	t.Cleanup(client.CloseIdleConnections)
	return "https://example.com:" + u.Port() + "/work", client
}

// checkNewConnection asserts the phases of a call on a new connection.
func checkNewConnection(t *testing.T, what string, tm *broker.Timing, durationMs float64) {
	t.Helper()
	if tm == nil {
		t.Fatalf("%s: no timing", what)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	switch {
	case tm.Reused:
		t.Errorf("%s: got reused, want a new connection", what)
	case tm.DNSMs < ms(dnsDelay):
		t.Errorf("%s: DNS %v ms, want at least the resolver's %s", what, tm.DNSMs, dnsDelay)
	case tm.ConnectMs <= 0, tm.TLSMs <= 0, tm.SendMs < 0:
		t.Errorf("%s: connect %v ms, TLS %v ms, send %v ms: want a connection and a handshake", what, tm.ConnectMs, tm.TLSMs, tm.SendMs)
	case tm.TTFBMs < ms(ttfbDelay):
		t.Errorf("%s: TTFB %v ms, want at least the target's %s", what, tm.TTFBMs, ttfbDelay)
	}
	checkPhasesFit(t, what, tm, durationMs)
}

// checkReused asserts the phases of a call on a kept-alive connection.
func checkReused(t *testing.T, what string, tm *broker.Timing, durationMs float64) {
	t.Helper()
	if tm == nil {
		t.Fatalf("%s: no timing", what)
	}
	if !tm.Reused || tm.DNSMs != 0 || tm.ConnectMs != 0 || tm.TLSMs != 0 {
		t.Errorf("%s: got %+v, want reused, without DNS, connect or TLS", what, *tm)
	}
	if tm.TTFBMs < float64(ttfbDelay.Milliseconds()) {
		t.Errorf("%s: TTFB %v ms, want at least the target's %s", what, tm.TTFBMs, ttfbDelay)
	}
	checkPhasesFit(t, what, tm, durationMs)
}

// checkPhasesFit: the phases follow each other within the call, so they
// add up to no more than its duration.
func checkPhasesFit(t *testing.T, what string, tm *broker.Timing, durationMs float64) {
	t.Helper()
	t.Logf("%s: %+v in %v ms", what, *tm, durationMs)
	if total := tm.TotalMs(); total > durationMs+0.01 { // each phase rounded to the µs
		t.Errorf("%s: phases add up to %v ms, more than the call's %v ms: %+v", what, total, durationMs, *tm)
	}
}

// TestCallerTiming: an attempt on a new https connection records DNS (the
// guard's own lookup), connect, TLS, the wait for the first byte and the
// slow body; the next attempt reuses the connection and records none of
// the first three.
func TestCallerTiming(t *testing.T) {
	t.Parallel()
	target, client := slowTLSTarget(t)
	c := NewCaller(client, staticSecrets{make(signing.Secret, 32)}, 0, nil)
	req := broker.CallRequest{TenantID: "t", TaskID: "tsk_1", Attempt: 1, Spec: broker.Spec{TargetURL: target, Method: http.MethodGet, Timeout: 30}}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

	first := c.Call(context.Background(), req)
	if first.Outcome != broker.OutcomeSucceeded || string(first.Body) != `"first part, and the rest"` {
		t.Fatalf("first call: got %s %s %s", first.Outcome, first.Error, first.Body)
	}
	checkNewConnection(t, "first call", first.Timing, ms(first.Duration))
	// The body phase begins when the client notices the first byte, which
	// may be a moment after the target began its pause: it can come out a
	// little shorter than the pause, never near zero.
	if first.Timing.BodyMs < ms(bodyDelay)/2 {
		t.Errorf("first call: body %v ms, want most of the target's %s", first.Timing.BodyMs, bodyDelay)
	}

	req.Attempt = 2
	second := c.Call(context.Background(), req)
	if second.Outcome != broker.OutcomeSucceeded {
		t.Fatalf("second call: got %s %s", second.Outcome, second.Error)
	}
	checkReused(t, "second call", second.Timing, ms(second.Duration))
	if second.Timing.BodyMs < ms(bodyDelay)/2 {
		t.Errorf("second call: body %v ms, want most of the target's %s", second.Timing.BodyMs, bodyDelay)
	}
}

// TestNotifierTiming: webhook deliveries record their phases the same way.
func TestNotifierTiming(t *testing.T) {
	t.Parallel()
	target, client := slowTLSTarget(t)
	n := NewNotifier(client, staticSecrets{make(signing.Secret, 32)}, 30*time.Second, nil)
	note := broker.Notification{TenantID: "t", TaskID: "tsk_1", WebhookID: "msg_tsk_1", URL: target, Status: broker.StatusSucceeded, Attempts: 1}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

	first := n.Notify(context.Background(), note)
	if !first.Delivered {
		t.Fatalf("first delivery: got %d %s", first.StatusCode, first.Error)
	}
	checkNewConnection(t, "first delivery", first.Timing, ms(first.Duration))
	second := n.Notify(context.Background(), note)
	if !second.Delivered {
		t.Fatalf("second delivery: got %d %s", second.StatusCode, second.Error)
	}
	checkReused(t, "second delivery", second.Timing, ms(second.Duration))
}

// TestTimingWithoutAnswer: a call that gets no answer records how far it
// came (the lookup and the refused connection), nothing after; a call
// that makes no request records no timing.
func TestTimingWithoutAnswer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // nothing listens there now: connections are refused
	client := NewHTTPClient(Guard{AllowPrivate: true}, ClientOptions{
		Resolver: slowResolver{mapResolver{"refused.example": {netip.MustParseAddr("127.0.0.1")}}, dnsDelay},
	})
	t.Cleanup(client.CloseIdleConnections)
	c := NewCaller(client, staticSecrets{make(signing.Secret, 32)}, 0, nil)
	spec := broker.Spec{TargetURL: "http://refused.example:" + strconv.Itoa(port) + "/", Method: http.MethodGet, Timeout: 30}
	res := c.Call(context.Background(), broker.CallRequest{TenantID: "t", TaskID: "tsk_1", Attempt: 1, Spec: spec})
	if res.Outcome != broker.OutcomeRetry || res.Timing == nil {
		t.Fatalf("refused: got %s %q, timing %+v", res.Outcome, res.Error, res.Timing)
	}
	if tm := *res.Timing; tm.DNSMs < float64(dnsDelay.Milliseconds()) || tm.TLSMs != 0 || tm.SendMs != 0 || tm.TTFBMs != 0 || tm.BodyMs != 0 || tm.Reused {
		t.Errorf("refused: got %+v, want the lookup and nothing past the connection", tm)
	}

	spec.TargetURL = "http://refused.example:" + strconv.Itoa(port) + "/\x7f"
	res = c.Call(context.Background(), broker.CallRequest{TenantID: "t", TaskID: "tsk_1", Attempt: 1, Spec: spec})
	if res.Outcome != broker.OutcomeFailed || res.Timing != nil {
		t.Errorf("unbuildable request: got %s %q, timing %+v, want failed without timing", res.Outcome, res.Error, res.Timing)
	}
}

// TestTracePhasesUnused: a context without a recorder leaves the dial's
// timing methods harmless.
func TestTracePhasesUnused(t *testing.T) {
	t.Parallel()
	p := dialPhases(context.Background())
	p.addDNS(p.clock())
	p.addConnect(p.clock())
	if p != nil {
		t.Fatalf("got a recorder from a bare context")
	}
}
