package jsensure_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/boomerang-dev/boomerang/internal/jsensure"
	"github.com/boomerang-dev/boomerang/internal/testenv"
)

// streamConfig is the configuration of a stream named name, on the
// subjects <name>.>.
func streamConfig(name string, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: jetstream.FileStorage, Replicas: replicas}
}

// consumerConfig is the configuration of a consumer of stream's two
// subjects <stream>.a and <stream>.b.
func consumerConfig(stream string, replicas int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: "work", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		MaxDeliver: -1, DeliverPolicy: jetstream.DeliverAllPolicy, Replicas: replicas, FilterSubjects: []string{stream + ".a", stream + ".b"}}
}

// TestAtOnceOnAFreshCluster has three clients, each on another server of
// a fresh cluster, make sure of the same replicated stream and consumer
// at the same moment, several times over: every one succeeds, and the
// stream has a leader when they return. (nats.go's CreateOrUpdateStream
// leaves such clients without an answer: see the package comment.)
func TestAtOnceOnAFreshCluster(t *testing.T) {
	t.Parallel()
	cluster := testenv.StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var clients []jetstream.JetStream
	for i := range 3 {
		nc, err := nats.Connect(cluster.URL(i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, _ := jetstream.New(nc)
		clients = append(clients, js)
	}
	for round := range 3 {
		cfg := streamConfig(fmt.Sprintf("EVENTS%d", round), 3)
		errs := make([]error, len(clients))
		var wg sync.WaitGroup
		for i, js := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, errs[i] = jsensure.Stream(ctx, js, cfg, nil); errs[i] == nil {
					errs[i] = jsensure.Consumer(ctx, js, cfg.Name, consumerConfig(cfg.Name, 3), nil)
				}
				if errs[i] == nil {
					_, errs[i] = jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: fmt.Sprintf("b%d", round), Replicas: 3}, nil)
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, client %d: %v", round, i, err)
			}
		}
		s, err := clients[0].Stream(ctx, cfg.Name)
		if err != nil {
			t.Fatal(err)
		}
		if info := s.CachedInfo(); info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("round %d: cluster %+v, want a leader and two replicas", round, info.Cluster)
		}
	}
}

// TestChangesOnlyWhatDiffers: a stream or consumer that exists as asked
// is left alone; one with another configuration is updated.
func TestChangesOnlyWhatDiffers(t *testing.T) {
	t.Parallel()
	js, _ := testenv.StartJetStream(t)
	ctx := context.Background()
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, nil))
	for range 2 {
		if _, err := jsensure.Stream(ctx, js, streamConfig("EVENTS", 1), logger); err != nil {
			t.Fatal(err)
		}
		if err := jsensure.Consumer(ctx, js, "EVENTS", consumerConfig("EVENTS", 1), logger); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: "limits", History: 1}, logger); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(log.String(), "updating") {
		t.Fatalf("made sure twice of what exists: got updates\n%s", log.String())
	}
	kv, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: "limits", History: 5}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := kv.Status(ctx); err != nil || st.History() != 5 {
		t.Fatalf("bucket history: got %v (%v), want 5", st, err)
	}

	cfg := streamConfig("EVENTS", 1)
	cfg.MaxAge = time.Hour
	cons := consumerConfig("EVENTS", 1)
	cons.AckWait = time.Minute
	cons.FilterSubjects = append(cons.FilterSubjects, "EVENTS.c")
	s, err := jsensure.Stream(ctx, js, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := jsensure.Consumer(ctx, js, "EVENTS", cons, logger); err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != time.Hour {
		t.Fatalf("stream MaxAge: got %v, want 1h", got)
	}
	c, err := js.Consumer(ctx, "EVENTS", "work")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Config; got.AckWait != time.Minute || len(got.FilterSubjects) != 3 {
		t.Fatalf("consumer: got ack wait %v, filters %v; want 1m and three", got.AckWait, got.FilterSubjects)
	}
}

// TestRetryable sorts what a starting cluster answers from real errors.
func TestRetryable(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]bool{
		context.DeadlineExceeded:                                true,
		nats.ErrNoResponders:                                    true,
		&jetstream.APIError{ErrorCode: 10008}:                   true, // temporarily unavailable
		&jetstream.APIError{ErrorCode: 10023}:                   true, // insufficient resources
		jetstream.ErrStreamNameAlreadyInUse:                     false,
		jetstream.ErrJetStreamNotEnabledForAccount:              false,
		&jetstream.APIError{ErrorCode: 10052}:                   false, // invalid stream config
		context.Canceled:                                        false,
		nats.ErrAuthorization:                                   false,
		jetstream.ErrConsumerMultipleFilterSubjectsNotSupported: false,
	} {
		if got := jsensure.Retryable(err); got != want {
			t.Errorf("Retryable(%v): got %v, want %v", err, got, want)
		}
	}
}
