package broker

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Timing is where the time of one HTTP call (an attempt or a webhook
// delivery) went, phase by phase, in milliseconds (to the microsecond).
// The phases follow each other: a new connection resolves the host (DNS),
// connects (Connect), shakes hands (TLS, https only), then every call
// writes its request (Send), waits for the first byte of the answer (TTFB)
// and reads the rest (Body). A call on a kept-alive connection (Reused)
// has no DNS, Connect or TLS. A phase the call did not reach is zero;
// calls recorded before timings existed have none (nil).
type Timing struct {
	// DNSMs is the lookup of the host's addresses, made by the SSRF guard
	// before it dials (zero for an address literal).
	DNSMs float64 `json:"dnsMs"`
	// ConnectMs is the TCP connection, the guard's address checks included.
	ConnectMs float64 `json:"connectMs"`
	// TLSMs is the TLS handshake.
	TLSMs float64 `json:"tlsMs"`
	// SendMs is writing the request, from the connection being ready to
	// the request's last byte.
	SendMs float64 `json:"sendMs"`
	// TTFBMs is the time to first byte: from the request written to the
	// first byte of the response.
	TTFBMs float64 `json:"ttfbMs"`
	// BodyMs is reading the response body, after its headers.
	BodyMs float64 `json:"bodyMs"`
	// Reused says the call went over a kept-alive connection.
	Reused bool `json:"reused"`
}

// TotalMs is the sum of the phases.
func (t *Timing) TotalMs() float64 {
	return t.DNSMs + t.ConnectMs + t.TLSMs + t.SendMs + t.TTFBMs + t.BodyMs
}

// Timing, nested in an attempt (15) or a delivery (15): 1 dnsMs,
// 2 connectMs, 3 tlsMs, 4 sendMs, 5 ttfbMs, 6 bodyMs, as whole
// microseconds (varints: a few bytes each, where a float takes nine), and
// 7 reused.
func (t *Timing) appendBin(b wbuf) wbuf {
	b = b.uint(1, micros(t.DNSMs)).uint(2, micros(t.ConnectMs)).uint(3, micros(t.TLSMs))
	return b.uint(4, micros(t.SendMs)).uint(5, micros(t.TTFBMs)).uint(6, micros(t.BodyMs)).bool(7, t.Reused)
}

func (t *Timing) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			t.DNSMs = millis(r.uint())
		case 2:
			t.ConnectMs = millis(r.uint())
		case 3:
			t.TLSMs = millis(r.uint())
		case 4:
			t.SendMs = millis(r.uint())
		case 5:
			t.TTFBMs = millis(r.uint())
		case 6:
			t.BodyMs = millis(r.uint())
		case 7:
			t.Reused = r.bool()
		default:
			r.skip()
		}
	}
}

// timing appends t as field n when there is one.
func (b wbuf) timing(n protowire.Number, t *Timing) wbuf {
	if t == nil {
		return b
	}
	return b.msg(n, t.appendBin)
}

// timing reads the field's nested timing.
func (r *rbuf) timing() *Timing {
	t := new(Timing)
	r.nested(t)
	return t
}

// micros is ms in whole microseconds, the precision ms gives durations;
// a negative value, which no clock should give, is kept as zero.
func micros(ms float64) uint64 {
	if ms <= 0 {
		return 0
	}
	return uint64(math.Round(ms * 1000))
}

// millis is the inverse of micros, the same value ms gives.
func millis(us uint64) float64 { return float64(us) / 1000 }
