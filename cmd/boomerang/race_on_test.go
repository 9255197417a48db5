//go:build race

package main

// Under the race detector every part, the in-process nats-servers above
// all, runs several times slower: the loss tests (ha_test.go) put a tenth
// of their load on the cluster and wait twice as long.
const (
	haLoadShare = 10
	haStretch   = 2
)
