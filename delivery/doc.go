// Package delivery makes Boomerang's outbound HTTP calls: the signed call to a
// task's target and the signed webhook with its result. It owns the HTTP
// client (connection reuse, capped bodies, timeouts, and a dial-time guard
// against requests to private networks), the classification of outcomes
// (success, retry, permanent failure), the retry schedules and the webhook
// body. It implements the Caller, Notifier and RetryPolicy that package
// broker declares.
package delivery
