package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A publish that failed because the stream could not be reached or could
// not take it is ErrUnavailable (the API answers 503); anything else is
// not, so it is not retried as if it were.
func TestPublishErrorsThatMeanUnavailable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{jetstream.ErrAsyncPublishTimeout, true},
		{jetstream.ErrNoStreamResponse, true},
		{jetstream.ErrTooManyStalledMsgs, true},
		{nats.ErrDisconnected, true},
		{nats.ErrConnectionClosed, true},
		{fmt.Errorf("nats: %w", &jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}), true},
		{context.Canceled, false}, // the client went away
		{&jetstream.APIError{Code: 400, ErrorCode: jetstream.JSErrCodeStreamMessageExceedsMaximum}, false},
		{errors.New("something else"), false},
	}
	for _, tt := range tests {
		got := publishError("task.t.k.created", tt.err)
		if errors.Is(got, ErrUnavailable) != tt.want || !errors.Is(got, tt.err) {
			t.Errorf("publishError(%v) = %v: unavailable %v, want %v (and wrapping it)", tt.err, got, errors.Is(got, ErrUnavailable), tt.want)
		}
	}
}
