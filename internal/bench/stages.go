package bench

import (
	"fmt"
	"io"
	"regexp"
	"sort"

	"github.com/google/pprof/profile"
)

// A Stage is a part of the pipeline a CPU profile's samples are charged to:
// a sample goes to the first stage, in Stages order, one of whose patterns
// matches a function on its stack.
type Stage struct {
	Name    string
	Pattern *regexp.Regexp
}

// Stages are the server's pipeline stages, the most specific first: a
// target call made by the dispatcher is the dispatcher's, even though
// net/http is on its stack.
var Stages = []Stage{
	{"GC and runtime background", regexp.MustCompile(`^runtime\.(gcBgMarkWorker|bgsweep|bgscavenge|gcDrain|markroot|gcStart|forEachP|sysmon|mcall$|morestack)`)},
	{"group commit (fsync rounds)", regexp.MustCompile(`/internal/groupcommit\.`)},
	{"projector (view writes)", regexp.MustCompile(`/internal/projector\.|/broker\.\(\*View\)\.|/broker\.\(\*applyBatch\)\.`)},
	{"create (API handler, auth, publish)", regexp.MustCompile(`/web/api\.|/tenant\.\(\*Store\)\.Authenticate`)},
	{"dispatch (target call, outcome)", regexp.MustCompile(`/broker\.\(\*Dispatcher\)\.`)},
	{"deliver (webhook call, outcome)", regexp.MustCompile(`/broker\.\(\*Deliverer\)\.`)},
	{"nats-server (store, consumers, routing)", regexp.MustCompile(`/nats-server/v2/`)},
	{"nats.go client", regexp.MustCompile(`/nats\.go`)},
	{"HTTP plumbing (net/http, echo, sockets)", regexp.MustCompile(`^net/http\.|/labstack/echo|^net\.|^crypto/tls\.`)},
}

// otherStage takes what no stage claims: syscalls, the scheduler, the
// runtime's other work.
const otherStage = "other (scheduler, syscalls, runtime)"

// StageShare is one stage's part of a profile.
type StageShare struct {
	Stage   string
	Seconds float64 // CPU seconds
	Share   float64 // of the profile's CPU, 0–1
}

// SplitStages charges every sample of a CPU profile to a stage, and
// returns the stages by CPU, largest first.
func SplitStages(p *profile.Profile) ([]StageShare, error) {
	vi := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, fmt.Errorf("not a CPU profile (no cpu/nanoseconds samples)")
	}
	byStage := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[vi]
		total += v
		byStage[stageOf(s)] += v
	}
	out := make([]StageShare, 0, len(byStage))
	for name, v := range byStage {
		share := 0.0
		if total > 0 {
			share = float64(v) / float64(total)
		}
		out = append(out, StageShare{Stage: name, Seconds: float64(v) / 1e9, Share: share})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seconds > out[j].Seconds })
	return out, nil
}

func stageOf(s *profile.Sample) string {
	for _, st := range Stages {
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function != nil && st.Pattern.MatchString(line.Function.Name) {
					return st.Name
				}
			}
		}
	}
	return otherStage
}

// WriteStages prints a profile's stages; with tasks > 0 (the tasks the
// server finished while it was taken) also CPU microseconds per task.
func WriteStages(w io.Writer, shares []StageShare, tasks int) {
	var total float64
	for _, s := range shares {
		total += s.Seconds
	}
	fmt.Fprintf(w, "%-42s %9s %7s", "stage", "CPU s", "share")
	if tasks > 0 {
		fmt.Fprintf(w, " %12s", "µs per task")
	}
	fmt.Fprintln(w)
	for _, s := range append(shares, StageShare{Stage: "total", Seconds: total, Share: 1}) {
		fmt.Fprintf(w, "%-42s %9.2f %6.1f%%", s.Stage, s.Seconds, 100*s.Share)
		if tasks > 0 {
			fmt.Fprintf(w, " %12.0f", s.Seconds*1e6/float64(tasks))
		}
		fmt.Fprintln(w)
	}
}
