package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
)

// BenchmarkDrain100: a node holding 100 plain units (3 etcd members on
// loopback) is drained with fleetctl drain (which waits); it reports the time until
// all 100 run elsewhere (target ≤ 10 s) and the longest single-unit gap,
// measured by polling the API's unit states every 20 ms (target ≤ 2 s).
//
//	go test -run '^$' -bench 'Drain100' -benchtime 1x -timeout 20m ./bench
func BenchmarkDrain100(b *testing.B) {
	const n = 100
	for range b.N {
		c := clStart(b)
		c.WaitMachines(3, 60*time.Second)
		victim := c.Nodes[2]
		vid := victim.MachineID()
		units := map[string]string{}
		for i := range n {
			units[fmt.Sprintf("drain100-%d.service", i)] = "[Service]\nExecStart=/bin/sleep 1000\n"
		}
		names := clustertest.FillOne(b, c, victim, units)
		gaps := clustertest.WatchGaps(c, names, 20*time.Millisecond)
		start := time.Now()
		c.MustFleetctl("drain", "--timeout", "60s", vid)
		if err := clustertest.Drained(c, names, []string{vid}, 30*time.Second); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		got, polls := gaps.Stop()
		name, longest := clustertest.Longest(got)
		b.Logf("drain of %d units: all elsewhere after %s; longest gap %s (%s); %d polls", n, took.Round(time.Millisecond), longest.Round(time.Millisecond), strings.TrimSuffix(name, ".service"), polls)
		b.ReportMetric(took.Seconds(), "drain-s")
		b.ReportMetric(longest.Seconds(), "max-gap-s")
		c.KillAll()
	}
}
