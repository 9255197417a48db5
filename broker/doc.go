// Package broker is the heart of Boomerang: task types, the JetStream
// subjects, streams and consumers, the dispatcher that calls targets, the
// deliverer that posts webhooks, the scheduler for waiting tasks, and the
// projector that keeps each node's bbolt view of the stream.
//
// The JetStream stream is the system of record and the work queue; the view
// is disposable and is rebuilt from the stream when it is missing. Every state
// change is exactly one publish. See docs/architecture.md for the event flow.
//
// broker imports no other Boomerang package: the outbound HTTP work comes in
// through the Caller and Notifier interfaces it declares.
package broker
