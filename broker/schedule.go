package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// taskDue fires when a task's next attempt is due. It carries the whole spec
// so that the event log's retention cannot strand a waiting task.
type taskDue struct {
	TenantID  string    `json:"tenantId"`
	TaskID    string    `json:"taskId"`
	Attempt   int       `json:"attempt"`
	CreatedAt time.Time `json:"createdAt"`
	Spec      Spec      `json:"spec"`
}

// hookDue fires when a webhook delivery is due. It carries the notification.
type hookDue struct {
	Notification Notification `json:"notification"`
	Round        uint64       `json:"round"`
	Index        int          `json:"index"`
	Number       int          `json:"number"`
}

// schedule publishes v to fire on due.<kind>.<tenant>.<task> at the given
// time, with a schedule on sched.<kind>.<tenant>.<task>.
//
// Publishing again for the same task does not reliably replace a schedule
// that has not fired: the server keeps one schedule per subject while it
// runs, but the older message stays in the stream, and in a measurement an
// overwritten schedule came back after a SIGKILL and fired. So a due
// message may come twice, or after the work it asks for was done. The
// receivers make that harmless by checking this node's view first: the
// dispatcher acks a due whose attempt the view already records, or whose
// task has finished (Dispatcher.alreadyDone); the deliverer one whose
// delivery the view already records, or whose round a redelivery replaced
// (Deliverer.handleDue). Two copies that arrive before the view has applied
// the first one's outcome can both be acted on: at least once, as for any
// redelivery. To remove a schedule for good, use unschedule.
func (p *Publisher) schedule(ctx context.Context, kind, tenantID, taskID string, at time.Time, v any) error {
	data, err := marshal(v)
	if err != nil {
		return fmt.Errorf("broker: encode schedule: %w", err)
	}
	msg := nats.NewMsg(scheduleSubject(kind, tenantID, taskID))
	// nats.go's WithScheduleAt truncates to whole seconds; the server
	// parses fractions, so write the exact time ourselves.
	msg.Header.Set("Nats-Schedule", "@at "+at.UTC().Format(time.RFC3339Nano))
	msg.Header.Set("Nats-Schedule-Target", dueSubject(kind, tenantID, taskID))
	msg.Data = data
	_, err = p.publish(ctx, msg)
	return err
}

// unschedule removes a pending schedule, if there is one, by purging its
// subject: every message on it, the overwritten ones too.
func (p *Publisher) unschedule(ctx context.Context, kind, tenantID, taskID string) error {
	s, err := p.stream(ctx, StreamSchedules)
	if err != nil {
		return err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(scheduleSubject(kind, tenantID, taskID))); err != nil {
		return fmt.Errorf("broker: unschedule: %w", err)
	}
	return nil
}
