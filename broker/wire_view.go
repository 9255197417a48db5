package broker

import (
	"encoding/json"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// The view's records in the binary format (wire.go). The projector writes
// them; the reads take JSON too (decodeValue), so a view file written
// before reads as it is, its records turning binary as tasks change. The
// spec record is the task's created event as published, in whichever
// format that was.

// encodeRecord encodes a view record.
func encodeRecord(v binEncoder) []byte { return v.appendBin(newWbuf(128)) }

// decodeValue decodes a view record, binary or JSON, into v.
func decodeValue(data []byte, v binDecoder) error { return decodeEvent(data, v) }

// taskRecord: 1 status, 2 createdAt, 3 updatedAt, 4 finishedAt,
// 5 nextAttemptAt, 6 attemptCount, 7 resultAttempt, 8 resultError,
// 9 terminalSeq, 10 webhook, 11 lastSeq, 12 host, 40 failureHook.
// A webhook record: 1 status, 2 nextAttemptAt, 3 count, 4 round, 5 index,
// 40 receiver.
func (t *taskRecord) appendBin(b wbuf) wbuf {
	b = b.str(1, string(t.Status)).time(2, t.CreatedAt).time(3, t.UpdatedAt).timePtr(4, t.FinishedAt)
	b = b.timePtr(5, t.NextAttemptAt).int(6, t.AttemptCount).int(7, t.ResultAttempt).str(8, t.ResultError)
	b = b.uint(9, t.TerminalSeq)
	if w := t.Webhook; w != nil {
		b = b.msg(10, w.appendBin)
	}
	b = b.uint(11, t.LastSeq).str(12, t.Host)
	if w := t.FailureHook; w != nil {
		b = b.msg(40, w.appendBin)
	}
	return b
}

func (w *webhookRecord) appendBin(b wbuf) wbuf {
	b = b.str(1, string(w.Status)).timePtr(2, w.NextAttemptAt).int(3, w.Count).uint(4, w.Round).int(5, w.Index)
	return b.str(40, w.Receiver)
}

func (t *taskRecord) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			t.Status = Status(r.str())
		case 2:
			t.CreatedAt = r.time()
		case 3:
			t.UpdatedAt = r.time()
		case 4:
			t.FinishedAt = r.timePtr()
		case 5:
			t.NextAttemptAt = r.timePtr()
		case 6:
			t.AttemptCount = r.int()
		case 7:
			t.ResultAttempt = r.int()
		case 8:
			t.ResultError = r.str()
		case 9:
			t.TerminalSeq = r.uint()
		case 10:
			t.Webhook = new(webhookRecord)
			r.nested(t.Webhook)
		case 11:
			t.LastSeq = r.uint()
		case 12:
			t.Host = r.str()
		case 40:
			t.FailureHook = new(webhookRecord)
			r.nested(t.FailureHook)
		default:
			r.skip()
		}
	}
}

func (w *webhookRecord) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			w.Status = WebhookStatus(r.str())
		case 2:
			w.NextAttemptAt = r.timePtr()
		case 3:
			w.Count = r.int()
		case 4:
			w.Round = r.uint()
		case 5:
			w.Index = r.int()
		case 40:
			w.Receiver = r.str()
		default:
			r.skip()
		}
	}
}

// Event: 1 seq, 2 taskId, 3 type, 4 at, 5 status, 6 attemptCount,
// 7 nextAttemptAt, 8 attempt, 9 webhook (1 status, 2 nextAttemptAt,
// 3 delivery, 40 the delivery's receiver).
func (e *Event) appendBin(b wbuf) wbuf {
	b = b.uint(1, e.Seq).str(2, e.TaskID).str(3, e.Type).time(4, e.At).str(5, string(e.Status))
	b = b.int(6, e.AttemptCount).timePtr(7, e.NextAttemptAt)
	if a := e.Attempt; a != nil {
		b = b.msg(8, func(b wbuf) wbuf {
			return b.int(1, a.Number).str(2, string(a.Outcome)).int(3, a.StatusCode).str(4, a.Error).f64(5, a.DurationMs)
		})
	}
	if w := e.Webhook; w != nil {
		b = b.msg(9, func(b wbuf) wbuf {
			b = b.str(1, string(w.Status)).timePtr(2, w.NextAttemptAt)
			if d := w.Delivery; d != nil {
				b = b.msg(3, func(b wbuf) wbuf {
					return b.int(1, d.Number).str(2, d.Outcome).int(3, d.StatusCode).str(4, d.Error).f64(5, d.DurationMs)
				})
				b = b.str(40, d.Receiver)
			}
			return b
		})
	}
	return b
}

func (e *Event) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			e.Seq = r.uint()
		case 2:
			e.TaskID = r.str()
		case 3:
			e.Type = r.str()
		case 4:
			e.At = r.time()
		case 5:
			e.Status = Status(r.str())
		case 6:
			e.AttemptCount = r.int()
		case 7:
			e.NextAttemptAt = r.timePtr()
		case 8:
			e.Attempt = new(AttemptEvent)
			r.nested(e.Attempt)
		case 9:
			e.Webhook = new(WebhookEvent)
			r.nested(e.Webhook)
		default:
			r.skip()
		}
	}
}

// readBin reads an attempt's summary: 1 number, 2 outcome, 3 statusCode,
// 4 error, 5 durationMs.
func (a *AttemptEvent) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			a.Number = r.int()
		case 2:
			a.Outcome = Outcome(r.str())
		case 3:
			a.StatusCode = r.int()
		case 4:
			a.Error = r.str()
		case 5:
			a.DurationMs = r.f64()
		default:
			r.skip()
		}
	}
}

// readBin reads a webhook summary: 1 status, 2 nextAttemptAt, 3 delivery
// (the fields of an attempt's summary), 40 the delivery's receiver.
func (w *WebhookEvent) readBin(r *rbuf) {
	var receiver string
	defer func() {
		if w.Delivery != nil {
			w.Delivery.Receiver = receiver
		}
	}()
	for r.next() {
		switch r.num {
		case 1:
			w.Status = WebhookStatus(r.str())
		case 2:
			w.NextAttemptAt = r.timePtr()
		case 3:
			var a AttemptEvent
			r.nested(&a)
			w.Delivery = &DeliveryEvent{Number: a.Number, Outcome: string(a.Outcome), StatusCode: a.StatusCode,
				Error: a.Error, DurationMs: a.DurationMs}
		case 40:
			receiver = r.str()
		default:
			r.skip()
		}
	}
}

// Counts: 1 a status and its count, 2 a webhook state and its count, each
// a message of name (1) and count (2), in name order; zeros left out.
func (c *Counts) appendBin(b wbuf) wbuf {
	b = appendCounts(b, 1, c.Status)
	return appendCounts(b, 2, c.Webhook)
}

func appendCounts[K ~string](b wbuf, n protowire.Number, counts map[K]int) wbuf {
	names := make([]string, 0, len(counts))
	for k, v := range counts {
		if v != 0 {
			names = append(names, string(k))
		}
	}
	sort.Strings(names)
	for _, name := range names {
		b = b.msg(n, func(b wbuf) wbuf { return b.str(1, name).int(2, counts[K(name)]) })
	}
	return b
}

func (c *Counts) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1, 2:
			num := r.num
			s := r.sub()
			var name string
			var n int
			for s.next() {
				switch s.num {
				case 1:
					name = s.str()
				case 2:
					n = s.int()
				default:
					s.skip()
				}
			}
			r.done(s)
			if num == 1 {
				c.Status[Status(name)] = n
			} else {
				c.Webhook[WebhookStatus(name)] = n
			}
		default:
			r.skip()
		}
	}
}

// MinuteStats: 1 created, 2 succeeded, 3 failed, 4 canceled, 5 attempts,
// 6 latency (one field per bucket, in order), 7 delivered,
// 8 deliveryFailures, 9 dead.
func (m *MinuteStats) appendBin(b wbuf) wbuf {
	b = b.int(1, m.Created).int(2, m.Succeeded).int(3, m.Failed).int(4, m.Canceled).int(5, m.Attempts)
	for _, n := range m.Latency {
		b = b.intAlways(6, n) // every bucket, zeros too: position counts
	}
	return b.int(7, m.Delivered).int(8, m.DeliveryFailures).int(9, m.Dead)
}

func (m *MinuteStats) readBin(r *rbuf) {
	for r.next() {
		switch r.num {
		case 1:
			m.Created = r.int()
		case 2:
			m.Succeeded = r.int()
		case 3:
			m.Failed = r.int()
		case 4:
			m.Canceled = r.int()
		case 5:
			m.Attempts = r.int()
		case 6:
			m.Latency = append(m.Latency, r.int())
		case 7:
			m.Delivered = r.int()
		case 8:
			m.DeliveryFailures = r.int()
		case 9:
			m.Dead = r.int()
		default:
			r.skip()
		}
	}
}

// decodeCounts decodes the live counts, binary or JSON, into c, whose maps
// are made.
func decodeCounts(data []byte, c *Counts) error {
	if isBinary(data) {
		return decodeValue(data, c)
	}
	if err := json.Unmarshal(data, c); err != nil {
		return err
	}
	if c.Status == nil {
		c.Status = map[Status]int{}
	}
	if c.Webhook == nil {
		c.Webhook = map[WebhookStatus]int{}
	}
	return nil
}
