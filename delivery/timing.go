package delivery

import (
	"context"
	"crypto/tls"
	"net/http/httptrace"
	"sync/atomic"
	"time"

	"github.com/boomerang-dev/boomerang/broker"
)

// phases records the timing of one outbound call. The transport reports
// TLS, the connection it got, the request written and the first byte
// through httptrace; the guarded dial, which resolves the host itself,
// adds the DNS and connect time it spends (see dialPhases), and the caller
// marks the end of the body.
//
// Every field is atomic: the transport lets a dial go on after its request
// gave up (a later request may use the connection), and that dial still
// reports here. One phases is allocated per call, never pooled, for the
// same reason.
type phases struct {
	now   func() time.Time
	start time.Time
	// dns and connect are durations the guarded dial adds, in ns.
	dns, connect atomic.Int64
	// The other marks are offsets from start in ns, plus one: zero is a
	// mark not reached.
	tlsStart, tlsDone, gotConn, wrote, firstByte, headers, bodyDone atomic.Int64
	reused                                                          atomic.Bool
	trace                                                           httptrace.ClientTrace
}

// phasesKey is the context key under which the guarded dial finds the
// call's phases.
type phasesKey struct{}

// tracePhases returns ctx carrying a recorder of the call's phases and the
// recorder. Its hooks are method values set once here: no goroutine, and a
// handful of small allocations per call.
func tracePhases(ctx context.Context, now func() time.Time) (context.Context, *phases) {
	p := &phases{now: now, start: now()}
	p.trace = httptrace.ClientTrace{
		TLSHandshakeStart:    p.onTLSStart,
		TLSHandshakeDone:     p.onTLSDone,
		GotConn:              p.onGotConn,
		WroteRequest:         p.onWrote,
		GotFirstResponseByte: p.onFirstByte,
	}
	ctx = context.WithValue(ctx, phasesKey{}, p)
	return httptrace.WithClientTrace(ctx, &p.trace), p
}

// dialPhases returns the recorder of ctx's call, nil when it has none.
func dialPhases(ctx context.Context) *phases {
	p, _ := ctx.Value(phasesKey{}).(*phases)
	return p
}

// since is the offset of now from the call's start, plus one: a mark's
// value.
func (p *phases) since() int64 { return int64(p.now().Sub(p.start)) + 1 }

func (p *phases) onTLSStart()                          { p.tlsStart.CompareAndSwap(0, p.since()) }
func (p *phases) onTLSDone(tls.ConnectionState, error) { p.tlsDone.Store(p.since()) }
func (p *phases) onWrote(httptrace.WroteRequestInfo)   { p.wrote.Store(p.since()) }
func (p *phases) onFirstByte()                         { p.firstByte.Store(p.since()) }
func (p *phases) markHeaders()                         { p.headers.Store(p.since()) }
func (p *phases) markBodyRead()                        { p.bodyDone.Store(p.since()) }
func (p *phases) onGotConn(info httptrace.GotConnInfo) {
	p.gotConn.Store(p.since())
	p.reused.Store(info.Reused)
}

// clock reads the call's clock; on a nil p (a dial without a recorder)
// it reads nothing and the add methods do nothing.
func (p *phases) clock() time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.now()
}

// addDNS adds the time since began to the DNS phase.
func (p *phases) addDNS(began time.Time) {
	if p != nil {
		p.dns.Add(int64(p.now().Sub(began)))
	}
}

// addConnect adds the time since began to the connect phase.
func (p *phases) addConnect(began time.Time) {
	if p != nil {
		p.connect.Add(int64(p.now().Sub(began)))
	}
}

// timing is what the call recorded, nil when it never asked for a
// connection (it failed before: a request that could not be built). On a
// reused connection DNS, connect and TLS are zero: a dial that went on
// meanwhile served no part of this call.
func (p *phases) timing() *broker.Timing {
	t := &broker.Timing{Reused: p.reused.Load()}
	if !t.Reused {
		t.DNSMs, t.ConnectMs = ms(time.Duration(p.dns.Load())), ms(time.Duration(p.connect.Load()))
		t.TLSMs = span(p.tlsStart.Load(), p.tlsDone.Load())
	}
	t.SendMs = span(p.gotConn.Load(), p.wrote.Load())
	t.TTFBMs = span(p.wrote.Load(), p.firstByte.Load())
	t.BodyMs = span(p.headers.Load(), p.bodyDone.Load())
	if *t == (broker.Timing{}) && p.gotConn.Load() == 0 {
		return nil
	}
	return t
}

// span is the time between two marks in milliseconds, zero unless both
// were reached in order.
func span(from, to int64) float64 {
	if from == 0 || to < from {
		return 0
	}
	return ms(time.Duration(to - from))
}

// ms is d in milliseconds to the microsecond, as the broker records
// durations.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
