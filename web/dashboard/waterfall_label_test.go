package dashboard

import (
	"strings"
	"testing"

	"github.com/boomerang-dev/boomerang/broker"
)

// TestWaterfallNamesFailureDeliveries: deliveries to failureWebhookUrl are
// numbered apart from the webhook's, and labelled so: two "Delivery #1"
// rows read as one delivery drawn twice.
func TestWaterfallNamesFailureDeliveries(t *testing.T) {
	t.Parallel()
	task := &broker.Task{
		Attempts: []broker.Attempt{{Number: 1, DurationMs: 5}},
		Webhook: &broker.Webhook{Deliveries: []broker.Delivery{
			{Number: 1, DurationMs: 3},
			{Number: 1, DurationMs: 4, Receiver: broker.FailureReceiver},
		}},
	}
	var labels []string
	for _, r := range taskWaterfall(task).Rows {
		labels = append(labels, r.Label)
	}
	if got, want := strings.Join(labels, ","), "Attempt #1,Delivery #1,Failure delivery #1"; got != want {
		t.Errorf("rows: got %s, want %s", got, want)
	}
}
