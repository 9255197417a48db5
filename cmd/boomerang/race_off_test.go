//go:build !race

package main

// Without the race detector the loss tests run their whole load and
// waits (see race_on_test.go).
const (
	haLoadShare = 1
	haStretch   = 1
)
