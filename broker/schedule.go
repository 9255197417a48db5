package broker

import (
	"context"
	"encoding/json"
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

// Schedule publishes v to fire on due.<kind>.<tenant>.<task> at the given
// time. A newer schedule for the same task replaces an older one that has
// not fired.
func (p *Publisher) schedule(ctx context.Context, kind, tenantID, taskID string, at time.Time, v any) error {
	data, err := json.Marshal(v)
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

// unschedule removes a pending schedule, if there is one.
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
