package client

// Timing is where the time of one HTTP call (an attempt or a webhook
// delivery) went, phase by phase, in milliseconds: on a new connection
// DNS, Connect and TLS (https only), then Send (writing the request),
// TTFB (from the request written to the first byte of the answer) and
// Body (reading the body after the headers). On a kept-alive connection
// (Reused) the first three are zero. A server before timings, or a call
// that made no request, gives none (nil).
type Timing struct {
	DNSMs     float64 `json:"dnsMs"`
	ConnectMs float64 `json:"connectMs"`
	TLSMs     float64 `json:"tlsMs"`
	SendMs    float64 `json:"sendMs"`
	TTFBMs    float64 `json:"ttfbMs"`
	BodyMs    float64 `json:"bodyMs"`
	Reused    bool    `json:"reused"`
}
