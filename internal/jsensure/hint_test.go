package jsensure

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestHintNamesTheReplicasFix: a start that waits for peers the cluster
// will never have says what to do; other errors carry no hint.
func TestHintNamesTheReplicasFix(t *testing.T) {
	t.Parallel()
	noPeers := &jetstream.APIError{Code: 500, ErrorCode: codeNoPeers, Description: "no suitable peers for placement"}
	if h := hint(noPeers); !strings.Contains(h, "--replicas") {
		t.Errorf("no suitable peers: hint %q, want one naming --replicas", h)
	}
	if h := hint(errors.New("timeout")); h != "" {
		t.Errorf("a plain error: hint %q, want none", h)
	}
}
