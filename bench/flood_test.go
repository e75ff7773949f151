package bench

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// BenchmarkAPIUnderFlood: API requests per second from a legitimate client
// (GET /fleet/v1/machines with the cluster's certificate, two at a time)
// on a one-node mutual-TLS cluster, unloaded and then while
// clustertest.Floods (20,000) connections that never finish their TLS
// handshake are held against the same API port by flooders running as
// nobody (measured once they have opened that many). Quiet and flooded
// phases alternate, three rounds of 5 s per client. Two clients: one that keeps its connection (as a program using
// the API does), one that opens a new connection and handshake per
// request (as each fleetctl command does). Issue 17's target: loaded ≥ 80%
// of unloaded, and no unit lost (the unit's pid is checked).
//
//	FLOTILLA_SLOW=1 go test -run '^$' -bench APIUnderFlood -benchtime 1x -timeout 10m ./bench
func BenchmarkAPIUnderFlood(b *testing.B) {
	testenv.NeedSlow(b)
	testenv.NeedRoot(b)
	const phase, rounds = 5 * time.Second, 3
	for range b.N {
		c := clustertest.New(b, 1, 0)
		c.EnableTLS()
		c.StartAll()
		node := c.Nodes[0]
		c.WriteUnit("flood.service", "[Service]\nExecStart=/bin/sleep 100000\n")
		c.MustFleetctl("start", "flood.service")
		pid := floodUnitPID(b, c)
		url := c.Endpoint(node) + "/fleet/v1/machines"
		fresh := c.FreshConnClient(20 * time.Second)
		kept := c.FreshConnClient(20 * time.Second)
		kept.Transport.(*http.Transport).DisableKeepAlives = false

		// Quiet and flooded phases alternate, so that the host's other
		// load drifts into both alike.
		var quietKept, quietFresh, loadKept, loadFresh float64
		var quietCPU, loadCPU, floodCPU time.Duration // fleetd's, the flooders'
		for r := range rounds {
			cpu := clustertest.TreeCPUTime(node.PID())
			quietKept += floodRate(b, kept, url, phase) / rounds
			quietFresh += floodRate(b, fresh, url, phase) / rounds
			quietCPU += clustertest.TreeCPUTime(node.PID()) - cpu
			f := clustertest.StartFlood(b, fmt.Sprintf("127.0.0.1:%d", node.APIPort), clustertest.Floods)
			// Measure once the flooders have opened Floods connections:
			// against fleetd without caps they are all held by then.
			if err := testutil.Eventually(time.Minute, func() error {
				if n := f.Connected(); n < clustertest.Floods {
					return fmt.Errorf("the flooders have opened %d connections, want %d", n, clustertest.Floods)
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			cpu, fcpu := clustertest.TreeCPUTime(node.PID()), f.CPUTime()
			loadKept += floodRate(b, kept, url, phase) / rounds
			loadFresh += floodRate(b, fresh, url, phase) / rounds
			loadCPU += clustertest.TreeCPUTime(node.PID()) - cpu
			floodCPU += f.CPUTime() - fcpu
			b.Logf("round %d: flooders %q", r+1, f.Status())
			f.Stop()
		}
		measured := (2 * phase * rounds).Seconds()
		b.ReportMetric(100*quietCPU.Seconds()/measured, "fleetd-cpu%")
		b.ReportMetric(100*loadCPU.Seconds()/measured, "fleetd-cpu%-flood")
		b.ReportMetric(100*floodCPU.Seconds()/measured, "flooders-cpu%")
		if got := floodUnitPID(b, c); got != pid {
			b.Errorf("flood.service was restarted during the flood: pid %d, then %d", pid, got)
		}
		b.ReportMetric(quietKept, "req/s-kept-conn")
		b.ReportMetric(loadKept, "req/s-kept-conn-flood")
		b.ReportMetric(loadKept/quietKept, "ratio-kept-conn")
		b.ReportMetric(quietFresh, "req/s-new-conn")
		b.ReportMetric(loadFresh, "req/s-new-conn-flood")
		b.ReportMetric(loadFresh/quietFresh, "ratio-new-conn")
		c.KillAll()
	}
}

// floodRate runs two clients doing GETs for d and returns the rate of
// successful ones; a failed request fails the benchmark.
func floodRate(b *testing.B, cl *http.Client, url string, d time.Duration) float64 {
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 {
		wg.Go(func() {
			for time.Since(start) < d {
				if err := clustertest.Get(cl, url); err != nil {
					b.Error(err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds()
}

func floodUnitPID(b *testing.B, c *clustertest.Cluster) int {
	b.Helper()
	var pid int
	if err := testutil.Eventually(30*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, s := range st["flood.service"] {
			if s.SystemdActiveState == "active" && s.PID > 0 {
				pid = s.PID
				return nil
			}
		}
		return fmt.Errorf("flood.service not active with a pid")
	}); err != nil {
		b.Fatal(err)
	}
	return pid
}
