// Package tenant manages tenants: their API keys (stored only as SHA-256
// hashes and compared in constant time), their webhook signing secrets and
// the operator's admin token. Tenant changes are events in their own
// JetStream stream, projected into every node's bbolt view like tasks, so
// any node can authenticate any key without a network hop.
package tenant
