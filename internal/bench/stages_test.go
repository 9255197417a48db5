package bench

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// A sample is charged to the most specific stage on its stack, and what
// no stage claims to "other"; shares add up to the profile's CPU.
func TestSplitStagesChargesTheMostSpecificStage(t *testing.T) {
	funcs := map[string]*profile.Function{}
	loc := func(names ...string) []*profile.Location {
		var out []*profile.Location
		for _, n := range names {
			f := funcs[n]
			if f == nil {
				f = &profile.Function{ID: uint64(len(funcs) + 1), Name: n}
				funcs[n] = f
			}
			out = append(out, &profile.Location{ID: uint64(len(funcs)), Line: []profile.Line{{Function: f}}})
		}
		return out
	}
	const mod = "github.com/boomerang-dev/boomerang"
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			// A target call: net/http under the dispatcher is the dispatcher's.
			{Location: loc("net/http.(*Transport).roundTrip", mod+"/broker.(*Dispatcher).attempt"), Value: []int64{1, 3e9}},
			{Location: loc("go.etcd.io/bbolt.(*Bucket).Put", mod+"/broker.(*applyBatch).apply", mod+"/internal/projector.(*Projector).apply"), Value: []int64{1, 2e9}},
			{Location: loc("github.com/nats-io/nats-server/v2/server.(*stream).processJetStreamMsg"), Value: []int64{1, 1e9}},
			{Location: loc("net/http.(*conn).serve"), Value: []int64{1, 1e9}},
			{Location: loc("runtime.futex"), Value: []int64{1, 1e9}},
		},
	}
	shares, err := SplitStages(p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, s := range shares {
		got[s.Stage] = s.Seconds
	}
	want := map[string]float64{
		"dispatch (target call, outcome)":         3,
		"projector (view writes)":                 2,
		"nats-server (store, consumers, routing)": 1,
		"HTTP plumbing (net/http, echo, sockets)": 1,
		otherStage: 1,
	}
	if len(got) != len(want) {
		t.Fatalf("stages %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %.1f CPU s, want %.1f", k, got[k], v)
		}
	}
	if shares[0].Stage != "dispatch (target call, outcome)" || shares[0].Share != 3.0/8 {
		t.Errorf("largest first: got %+v", shares[0])
	}
	var out bytes.Buffer
	WriteStages(&out, shares, 1000)
	if !strings.Contains(out.String(), "total") || !strings.Contains(out.String(), "8000") {
		t.Errorf("report lacks the total or µs per task:\n%s", out.String())
	}
	if _, err := SplitStages(&profile.Profile{SampleType: []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}}}); err == nil {
		t.Error("a heap profile was split as if it were CPU")
	}
}
