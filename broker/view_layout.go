package broker

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The view file's layout: bucket names, key encodings and the stored task
// record. The projector (project.go) writes them and the reads (view*.go)
// and workers read them; a deleted view is rebuilt in the same layout.

// Buckets of the task view. Every tenant has its own bucket under
// bucketTasks, holding these sub-buckets, so that no query can reach another
// tenant's tasks without naming it.
var (
	bucketTasks      = []byte("tasks")
	bucketState      = []byte("state")      // task id -> taskRecord
	bucketSpec       = []byte("spec")       // task id -> its created event (the Spec)
	bucketAttempts   = []byte("attempts")   // task id, 0, uint32 number -> Attempt
	bucketDeliveries = []byte("deliveries") // task id, 0, uint32 number -> Delivery
	bucketByTime     = []byte("bytime")     // uint64 created nanos, task id -> nil
	// bucketByFinish lists finished tasks by when they finished, for the
	// tenant's retention to drop the oldest (prune.go).
	bucketByFinish = []byte("byfinish") // uint64 finished nanos, task id -> nil
	// bucketReplays links a task to the tasks that replay it (their
	// created events name it in replayOf), oldest first.
	bucketReplays = []byte("replays") // original id, 0, uint64 created nanos, replay id -> nil
)

// Buckets of the event history, under each tenant's bucket.
var (
	bucketEvents     = []byte("events")     // uint64 seq -> Event
	bucketTaskEvents = []byte("taskevents") // task id, 0, uint64 seq -> nil
)

// Buckets under each tenant's bucket that keep the dashboard fast: indexes
// by status, target host and webhook state (each key: value, 0, created
// nanoseconds, task id), the task an idempotency key made, live counts, and
// per-minute statistics. All of it derives from the events, so a rebuilt
// view has the same.
var (
	bucketByStatus  = []byte("bystatus")
	bucketByHost    = []byte("byhost")
	bucketByWebhook = []byte("bywebhook")
	bucketByIdem    = []byte("byidem")
	bucketCounters  = []byte("counters")
	bucketStats     = []byte("stats") // uint64 unix minute -> MinuteStats
	countersKey     = []byte("live")
)

// taskRecord is the mutable state of a task in the view.
type taskRecord struct {
	Status        Status     `json:"status"`
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
	FinishedAt    *time.Time `json:"finishedAt,omitempty"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	AttemptCount  int        `json:"attemptCount"`
	// A succeeded or failed task's result is the response of attempt
	// ResultAttempt (zero: none), with ResultError; it is not copied into
	// the record, which every later event rewrites.
	ResultAttempt int            `json:"resultAttempt,omitempty"`
	ResultError   string         `json:"resultError,omitempty"`
	TerminalSeq   uint64         `json:"terminalSeq,omitempty"`
	Webhook       *webhookRecord `json:"webhook,omitempty"`
	// FailureHook is the failure receiver's state when a failed task has
	// both receivers (Webhook is then webhookUrl's); see receivers.go.
	FailureHook *webhookRecord `json:"failureHook,omitempty"`
	LastSeq     uint64         `json:"lastSeq"`
	Host        string         `json:"host,omitempty"`
}

type webhookRecord struct {
	Status        WebhookStatus `json:"status"`
	NextAttemptAt *time.Time    `json:"nextAttemptAt,omitempty"`
	Count         int           `json:"count"`
	// Round and Index locate the last delivery: the event that started its
	// round and its place in the retry schedule.
	Round uint64 `json:"round"`
	Index int    `json:"index"`
	// Receiver is the receiver this state is of: "" for webhookUrl,
	// FailureReceiver for failureWebhookUrl.
	Receiver string `json:"receiver,omitempty"`
}

// decodeRecord decodes a task's record from bucketState.
func decodeRecord(data []byte) (*taskRecord, error) {
	rec := new(taskRecord)
	if err := decodeValue(data, rec); err != nil {
		return nil, fmt.Errorf("broker: task record: %w", err)
	}
	return rec, nil
}

// tenantBucket returns the tenant's bucket under bucketTasks, nil when the
// tenant has no task.
func tenantBucket(tx *bolt.Tx, tenantID string) *bolt.Bucket {
	root := tx.Bucket(bucketTasks)
	if root == nil {
		return nil
	}
	return root.Bucket([]byte(tenantID))
}

// timeKey is a bucketByTime key: created nanoseconds, task id.
func timeKey(created time.Time, taskID string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(taskID)), uint64(created.UnixNano()))
	return append(k, taskID...)
}

// finishKey is a bucketByFinish key: finished nanoseconds, task id.
func finishKey(finished time.Time, taskID []byte) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(taskID)), uint64(finished.UnixNano()))
	return append(k, taskID...)
}

// indexKey is a key of the status, host and webhook indexes: value, 0,
// created nanoseconds, task id.
func indexKey(value string, created time.Time, taskID []byte) []byte {
	k := make([]byte, 0, len(value)+9+len(taskID))
	k = append(k, value...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(created.UnixNano()))
	return append(k, taskID...)
}

// childKey is a key of the attempts and deliveries buckets: task id, 0,
// uint32 number.
func childKey(taskID []byte, n int) []byte {
	k := make([]byte, 0, len(taskID)+5)
	k = append(k, taskID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint32(k, uint32(n))
}

// replayKey is a bucketReplays key: original id, 0, the replay's created
// nanoseconds, replay id.
func replayKey(original []byte, created time.Time, replay []byte) []byte {
	k := make([]byte, 0, len(original)+9+len(replay))
	k = append(k, original...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(created.UnixNano()))
	return append(k, replay...)
}

// eventKey is a bucketTaskEvents key: task id, 0, uint64 stream sequence.
func eventKey(taskID []byte, seq uint64) []byte {
	k := make([]byte, 0, len(taskID)+9)
	k = append(k, taskID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}
