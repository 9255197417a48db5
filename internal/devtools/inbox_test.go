package devtools

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// TestInboxKeepsTheLastWebhooks: the inbox holds at most its size, newest
// first, numbered in order; it keeps JSON bodies as they are and only the
// start of long ones, as text; and it wakes a watcher at each arrival.
func TestInboxKeepsTheLastWebhooks(t *testing.T) {
	t.Parallel()
	in := NewInbox(3, 16)
	changed := in.Changed()
	in.add(Webhook{WebhookID: "msg_1"}, []byte(`{"n":1}`))
	select {
	case <-changed:
	default:
		t.Fatal("an arrival did not close Changed")
	}
	for i := 2; i <= 5; i++ {
		in.add(Webhook{WebhookID: "msg_" + string(rune('0'+i))}, []byte(`{"n":`+string(rune('0'+i))+`}`))
	}
	items := in.List()
	if len(items) != 3 || items[0].Seq != 5 || items[2].Seq != 3 || in.Last() != 5 {
		t.Fatalf("got %d webhooks from %d to %d (last %d), want 5, 4, 3", len(items), items[0].Seq, items[len(items)-1].Seq, in.Last())
	}
	if _, ok := in.Get(2); ok {
		t.Error("webhook 2 is still kept beyond the inbox's size")
	}
	if w, ok := in.Get(4); !ok || string(w.Body) != `{"n":4}` || w.BodyTruncated {
		t.Errorf("webhook 4: got %s (cut: %v), want its JSON body as sent", w.Body, w.BodyTruncated)
	}
	if after := in.After(4); len(after) != 1 || after[0].Seq != 5 {
		t.Errorf("after 4: got %v, want webhook 5", after)
	}

	for _, c := range []struct {
		name, body, want string
		cut              bool
	}{
		{"text", "plain text", `"plain text"`, false},
		{"long JSON", `{"text":"` + strings.Repeat("a", 40) + `"}`, `"{\"text\":\"aaaaaaa"`, true},
		{"long text cut inside a character", strings.Repeat("é", 20), `"` + strings.Repeat("é", 8) + `"`, true},
	} {
		w := in.add(Webhook{}, []byte(c.body))
		var s string
		if string(w.Body) != c.want || w.BodyTruncated != c.cut || json.Unmarshal(w.Body, &s) != nil || !utf8.ValidString(s) {
			t.Errorf("%s: got %s (cut: %v), want %s (cut: %v)", c.name, w.Body, w.BodyTruncated, c.want, c.cut)
		}
	}
}

// TestInboxWatchersSeeEveryArrival: a watcher that takes Changed before it
// reads never misses a webhook, however they race.
func TestInboxWatchersSeeEveryArrival(t *testing.T) {
	t.Parallel()
	in := NewInbox(1000, 0)
	const n = 200
	done := make(chan uint64)
	go func() {
		var seen uint64
		deadline := time.After(testenv.GiveUpAfter)
		for seen < n {
			changed := in.Changed()
			for _, w := range in.After(seen) {
				seen = max(seen, w.Seq)
			}
			if seen >= n {
				break
			}
			select {
			case <-changed:
			case <-deadline:
				done <- seen
				return
			}
		}
		done <- seen
	}()
	for range n {
		in.add(Webhook{}, []byte(`{}`))
	}
	if seen := <-done; seen != n {
		t.Fatalf("the watcher saw up to %d, want %d", seen, n)
	}
}
