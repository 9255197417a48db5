package broker

import (
	"encoding/json"
	"time"
)

// The task events in the binary format (wire.go). Publishers write it;
// every reader also takes the JSON of events published before
// (decodeEvent). Prune events stay JSON: they are rare and the janitor's.

// binEncoder is a value with a binary encoding.
type binEncoder interface {
	appendBin(b wbuf) wbuf
}

// binDecoder is a value that reads its binary encoding.
type binDecoder interface {
	readBin(r *rbuf)
}

// encodeValue encodes v in the binary format when it has one, else as JSON
// (see marshal).
func encodeValue(v any) ([]byte, error) {
	if e, ok := v.(binEncoder); ok {
		return e.appendBin(newWbuf(256)), nil
	}
	return marshal(v)
}

// decodeEvent decodes an event's payload, binary or JSON, into v.
func decodeEvent(data []byte, v binDecoder) error {
	if isBinary(data) {
		r := readBinary(data)
		v.readBin(r)
		return r.err
	}
	return json.Unmarshal(data, v)
}

// Spec: 1 targetUrl, 2 method, 3 headers, 4 payload (its bytes as written),
// 5 payloadBase64, 6 contentType, 7 webhookUrl, 8 retries, 9 timeout,
// 10 notBefore, 11 idempotencyKey, 12 failureWebhookUrl, 13 orderingKey,
// 14 flowControl (a FlowControl message).
func (s *Spec) appendBin(b wbuf) wbuf {
	b = b.str(1, s.TargetURL).str(2, s.Method).strMap(3, s.Headers).raw(4, s.Payload).raw(5, s.PayloadBase64)
	b = b.str(6, s.ContentType).str(7, s.WebhookURL).int(8, s.Retries).f64(9, s.Timeout)
	b = b.timePtr(10, s.NotBefore).str(11, s.IdempotencyKey).str(12, s.FailureWebhookURL).str(13, s.OrderingKey)
	if s.FlowControl != nil {
		b = b.msg(14, s.FlowControl.appendBin)
	}
	return b
}

// FlowControl: 1 key, 2 rate, 3 period, 4 parallelism.
func (f *FlowControl) appendBin(b wbuf) wbuf {
	return b.str(1, f.Key).int(2, f.Rate).str(3, f.Period).int(4, f.Parallelism)
}

func (f *FlowControl) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			f.Key = r.str()
		case 2:
			f.Rate = r.int()
		case 3:
			f.Period = r.str()
		case 4:
			f.Parallelism = r.int()
		default:
			r.skip()
		}
	}
}

// readField reads field r.num of a spec and reports whether it is one.
func (s *Spec) readField(r *rbuf) bool {
	switch r.num {
	case 1:
		s.TargetURL = r.str()
	case 2:
		s.Method = r.str()
	case 3:
		r.mapEntry(&s.Headers)
	case 4:
		s.Payload = r.copied()
	case 5:
		s.PayloadBase64 = r.copied()
	case 6:
		s.ContentType = r.str()
	case 7:
		s.WebhookURL = r.str()
	case 8:
		s.Retries = r.int()
	case 9:
		s.Timeout = r.f64()
	case 10:
		s.NotBefore = r.timePtr()
	case 11:
		s.IdempotencyKey = r.str()
	case 12:
		s.FailureWebhookURL = r.str()
	case 13:
		s.OrderingKey = r.str()
	case 14:
		s.FlowControl = &FlowControl{}
		r.nested(s.FlowControl)
	default:
		return false
	}
	return true
}

// createdEvent: the spec's fields, 20 createdAt, 21 requestHash,
// 22 replayOf, 80 scheduleId, 81 firingAt.
func (e createdEvent) appendBin(b wbuf) wbuf {
	return e.Spec.appendBin(b).time(20, e.CreatedAt).str(21, e.RequestHash).str(22, e.ReplayOf).
		str(80, e.ScheduleID).timePtr(81, e.FiringAt)
}

func (e *createdEvent) readBin(r *rbuf) {
	for r.next() {
		switch {
		case e.Spec.readField(r):
		case r.num == 20:
			e.CreatedAt = r.time()
		case r.num == 21:
			e.RequestHash = r.str()
		case r.num == 22:
			e.ReplayOf = r.str()
		case r.num == 80:
			e.ScheduleID = r.str()
		case r.num == 81:
			e.FiringAt = r.timePtr()
		default:
			r.skip()
		}
	}
}

// Response, inside an attempt: 6 statusCode, 7 headers, 8 body,
// 9 bodyEncoding, 10 bodyTruncated, 11 headersTruncated.
func (p *Response) appendBin(b wbuf) wbuf {
	b = b.int(6, p.StatusCode).strMap(7, p.Headers).raw(8, p.Body).str(9, p.BodyEncoding)
	return b.bool(10, p.BodyTruncated).bool(11, p.HeadersTruncated)
}

func (p *Response) readField(r *rbuf) bool {
	switch r.num {
	case 6:
		p.StatusCode = r.int()
	case 7:
		r.mapEntry(&p.Headers)
	case 8:
		p.Body = r.copied()
	case 9:
		p.BodyEncoding = r.str()
	case 10:
		p.BodyTruncated = r.bool()
	case 11:
		p.HeadersTruncated = r.bool()
	default:
		return false
	}
	return true
}

// Attempt: 1 number, 2 startedAt, 3 durationMs, 4 outcome, 5 error, then
// its response's fields (6–11), 15 timing.
func (a *Attempt) appendBin(b wbuf) wbuf {
	b = b.int(1, a.Number).time(2, a.StartedAt).f64(3, a.DurationMs).str(4, string(a.Outcome)).str(5, a.Error)
	return a.Response.appendBin(b).timing(15, a.Timing)
}

func (a *Attempt) readBin(r *rbuf) {
	for r.next() {
		switch {
		case a.Response.readField(r):
		case r.num == 1:
			a.Number = r.int()
		case r.num == 2:
			a.StartedAt = r.time()
		case r.num == 3:
			a.DurationMs = r.f64()
		case r.num == 4:
			a.Outcome = Outcome(r.str())
		case r.num == 5:
			a.Error = r.str()
		case r.num == 15:
			a.Timing = r.timing()
		default:
			r.skip()
		}
	}
}

// startedEvent: 1 attempt, 2 at.
func (e startedEvent) appendBin(b wbuf) wbuf { return b.int(1, e.Attempt).time(2, e.At) }

func (e *startedEvent) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			e.Attempt = r.int()
		case 2:
			e.At = r.time()
		default:
			r.skip()
		}
	}
}

// attemptEvent: 1 attempt, 2 nextAttemptAt.
func (e attemptEvent) appendBin(b wbuf) wbuf {
	return b.msg(1, e.Attempt.appendBin).timePtr(2, e.NextAttemptAt)
}

func (e *attemptEvent) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			r.nested(&e.Attempt)
		case 2:
			e.NextAttemptAt = r.timePtr()
		default:
			r.skip()
		}
	}
}

// finishedEvent: 1 attempt, 2 error, 3 attempts, 4 finishedAt,
// 5 webhookUrl, 12 failureWebhookUrl.
func (e finishedEvent) appendBin(b wbuf) wbuf {
	if e.Attempt != nil {
		b = b.msg(1, e.Attempt.appendBin)
	}
	return b.str(2, e.Error).int(3, e.Attempts).time(4, e.FinishedAt).str(5, e.WebhookURL).str(12, e.FailureWebhookURL)
}

func (e *finishedEvent) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			e.Attempt = new(Attempt)
			r.nested(e.Attempt)
		case 2:
			e.Error = r.str()
		case 3:
			e.Attempts = r.int()
		case 4:
			e.FinishedAt = r.time()
		case 5:
			e.WebhookURL = r.str()
		case 12:
			e.FailureWebhookURL = r.str()
		default:
			r.skip()
		}
	}
}

// canceledEvent and redeliverEvent: 1 at.
func (e canceledEvent) appendBin(b wbuf) wbuf { return b.time(1, e.At) }

func (e *canceledEvent) readBin(r *rbuf) { e.At = readAt(r) }

func (e redeliverEvent) appendBin(b wbuf) wbuf { return b.time(1, e.At) }

func (e *redeliverEvent) readBin(r *rbuf) { e.At = readAt(r) }

func readAt(r *rbuf) (at time.Time) {
	for r.next() {
		if r.num == 1 {
			at = r.time()
		} else {
			r.skip()
		}
	}
	return at
}

// Delivery: 1 number, 2 attemptedAt, 3 durationMs, 4 outcome,
// 5 statusCode, 6 error, 7 responseBody, 8 round, 9 index, 15 timing,
// 40 receiver.
func (d *Delivery) appendBin(b wbuf) wbuf {
	b = b.int(1, d.Number).time(2, d.AttemptedAt).f64(3, d.DurationMs).str(4, d.Outcome).int(5, d.StatusCode)
	return b.str(6, d.Error).str(7, d.ResponseBody).uint(8, d.Round).int(9, d.Index).timing(15, d.Timing).str(40, d.Receiver)
}

func (d *Delivery) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			d.Number = r.int()
		case 2:
			d.AttemptedAt = r.time()
		case 3:
			d.DurationMs = r.f64()
		case 4:
			d.Outcome = r.str()
		case 5:
			d.StatusCode = r.int()
		case 6:
			d.Error = r.str()
		case 7:
			d.ResponseBody = r.str()
		case 8:
			d.Round = r.uint()
		case 9:
			d.Index = r.int()
		case 15:
			d.Timing = r.timing()
		case 40:
			d.Receiver = r.str()
		default:
			r.skip()
		}
	}
}

// deliveryEvent: 1 delivery, 2 nextAttemptAt.
func (e deliveryEvent) appendBin(b wbuf) wbuf {
	return b.msg(1, e.Delivery.appendBin).timePtr(2, e.NextAttemptAt)
}

func (e *deliveryEvent) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			r.nested(&e.Delivery)
		case 2:
			e.NextAttemptAt = r.timePtr()
		default:
			r.skip()
		}
	}
}

// createdIndex is what the view's record and indexes take from a created
// event; reading only these skips copying the payload.
type createdIndex struct {
	TargetURL      string     `json:"targetUrl"`
	NotBefore      *time.Time `json:"notBefore"`
	IdempotencyKey string     `json:"idempotencyKey"`
	CreatedAt      time.Time  `json:"createdAt"`
	ReplayOf       string     `json:"replayOf"`
}

// decodeCreatedIndex reads a created event's indexed fields, binary or
// JSON.
func decodeCreatedIndex(data []byte) (createdIndex, error) {
	var c createdIndex
	if !isBinary(data) {
		err := json.Unmarshal(data, &c)
		return c, err
	}
	r := readBinary(data)
	for r.next() {
		switch r.num {
		case 1:
			c.TargetURL = r.str()
		case 10:
			c.NotBefore = r.timePtr()
		case 11:
			c.IdempotencyKey = r.str()
		case 20:
			c.CreatedAt = r.time()
		case 22:
			c.ReplayOf = r.str()
		default:
			r.skip()
		}
	}
	return c, r.err
}
