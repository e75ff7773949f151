package bench

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// BenchmarkFaultInjection (issue 18): the injector of
// clustertest.TestFaultInjection, three members each in its own network
// namespace, 30 writer units, six seeded rounds (SIGKILL, an 8–12 s
// SIGSTOP of the inner fleetd, a 10–15 s link cut; one of each aimed at
// etcd's raft leader). Reports the duplicates (two machines writing a unit within
// 300 ms), their longest overlap and the longest gap of any unit.
// Targets: no overlap over the fence margin (500 ms), no gap over 8 s.
//
//	go test -run '^$' -bench 'FaultInjection' -benchtime 1x -timeout 20m ./bench
func BenchmarkFaultInjection(b *testing.B) {
	testenv.NeedRoot(b)
	testenv.NeedCommand(b, "ip")
	seed := uint64(18)
	if s := os.Getenv("FLOTILLA_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			b.Fatalf("FLOTILLA_CHAOS_SEED=%q: want a non-negative integer", s)
		}
		seed = v
	}
	for range b.N {
		r := clustertest.RunFaultInjection(b, clustertest.FaultOptions{Seed: seed, Units: 30, Rounds: 6, Pause: [2]time.Duration{8 * time.Second, 12 * time.Second}, Cut: [2]time.Duration{10 * time.Second, 15 * time.Second}})
		overlap, gap := r.Report.Worst()
		over := 0
		for _, d := range r.Report.Duplicates {
			if d.Overlap > r.Margin {
				over++
			}
		}
		b.ReportMetric(float64(len(r.Report.Duplicates)), "duplicates")
		b.ReportMetric(float64(over), "over-margin")
		b.ReportMetric(float64(overlap.Milliseconds()), "ms-overlap-max")
		b.ReportMetric(gap.Len().Seconds(), "s-gap-max")
		b.ReportMetric(float64(len(r.Report.Lost)), "lost")
		b.ReportMetric(float64(-r.Report.Closest.Overlap.Milliseconds()), "ms-handover-min")
		// On stderr too: a benchmark's b.Log output is cut at 10 lines,
		// and the runner logs a line per round.
		msg := fmt.Sprintf("%d duplicates (%d over the %s margin), longest overlap %s; longest gap %s; closest hand-over %s apart (%s); lost %v",
			len(r.Report.Duplicates), over, r.Margin, overlap.Round(time.Millisecond), r.Explain(gap),
			-r.Report.Closest.Overlap.Round(time.Millisecond), r.Report.Closest.Unit, r.Report.Lost)
		fmt.Fprintf(os.Stderr, "fault injection, seed %d, per round:\n%s%s\n", seed, r.Table(), msg)
		b.Log(msg)
	}
}

// BenchmarkLeaderPause (issue 18, point 3): three members on loopback, 9
// writer units (3 a node); SIGSTOP of the raft leader's inner fleetd for
// 4 s, then SIGCONT. Reports how many units of the two healthy nodes
// restarted (a new writer process; target 0) and the longest gap those
// units saw (frozen time).
//
//	go test -run '^$' -bench 'LeaderPause' -benchtime 1x -timeout 10m ./bench
func BenchmarkLeaderPause(b *testing.B) {
	testenv.NeedRoot(b)
	for range b.N {
		r := clustertest.RunLeaderPause(b, 9, 4*time.Second)
		b.ReportMetric(float64(len(r.Restarts)), "restarts-healthy")
		b.ReportMetric(r.Longest.Len().Seconds(), "s-gap-max")
		b.Logf("raft leader %s paused 4s (%s); %d units on the healthy nodes, %d restarted %v; longest gap %s (%s)",
			r.Victim, r.Note, len(r.Healthy), len(r.Restarts), r.Restarts, r.Longest.Len().Round(time.Millisecond), r.Longest.Unit)
		b.Logf("the paused node's own %d units: %d restarted, longest gap %s", len(r.Paused), r.PausedRestarts, r.PausedLongest.Len().Round(time.Millisecond))
	}
}
