//go:build !race

package main

// haScale stretches the loss tests under the race detector (see
// race_on_test.go); without it, it is 1.
const haScale = 1
