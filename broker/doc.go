// Package broker is the heart of Boomerang: task types, the JetStream
// subjects, streams and consumers, the API's writes and reads, the
// scheduler for waiting work, the dispatcher that calls targets, the
// deliverer that posts webhooks, and the task view in bbolt that each node
// keeps of the stream.
//
// The JetStream stream is the system of record and the work queue; the view
// is disposable and is rebuilt from the stream when it is missing. Every state
// change is exactly one publish. See docs/architecture.md for the event flow.
//
// The files, in pipeline order:
//
//	task.go           public task types (Task, Spec, Attempt, Delivery, statuses) and ids
//	subject.go        the subjects (task.*, sched.*, due.*), event kinds, ValidToken
//	stream.go         the task and schedule streams and the shared durable consumers
//	event.go          payloads of the events on the task stream
//	payload.go        Spec.Body, and the payload kept byte for byte in events and due messages
//	fit.go            sizing events to the stream: a record too large drops its bodies, then headers
//	publish.go        Publisher: one publish per state change, acknowledged by JetStream
//	create.go         Tasks, the API's writes: Create (with idempotency), Cancel, Redeliver
//	read.go           Tasks' reads, which wait for the view to see this node's writes
//	schedule.go       waiting work: due payloads, schedule (Nats-Schedule), unschedule, parking
//	                  far waits by minute and promoting a woken bucket
//	worker.go         what both workers share: fetch loop, slots, keep-alive, settle, WorkerConfig
//	gate.go           per-tenant and per-host caps on work running on this node
//	adaptive.go       adaptive concurrency per tenant and target host: AIMD limit, latency
//	                  gradient, Retry-After pauses (the dispatcher's only)
//	dispatch.go       Dispatcher: calls targets, records attempts, schedules retries
//	outbound.go       Caller, Notifier and RetryPolicy: the interfaces package delivery implements
//	deliver.go        Deliverer: posts results to webhooks, retries, dead-letters
//	project.go        View.Apply: applying a batch of task events to the view
//	project_index.go  the indexes, live counts and per-minute statistics a batch updates
//	hub.go            Hub: wakes long-polls, event streams and the dispatcher after a batch
//	view_layout.go    the view file's layout: buckets, keys, the stored task record
//	view.go           View: Get, List, FindTask; ViewProgress
//	view_events.go    the event history: Event and its feed reads
//	view_stats.go     Counts, MinuteStats and the latency histogram's buckets
//
// The projector that runs View.Apply for every batch of the stream is
// generic and lives in internal/projector; broker declares only what it
// needs of it (ViewProgress). broker imports no other Boomerang package: the
// outbound HTTP work comes in through the Caller and Notifier interfaces it
// declares.
package broker
