//go:build race

package main

// haScale stretches the loss tests under the race detector, which makes
// every part several times slower (see ha_test.go).
const haScale = 3
