package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/testenv"
)

// BenchmarkRollout30 (issue 11): 30 busybox httpd instances of a template
// on 3 loopback nodes, rolled to a new revision with --max-unavailable 3
// --min-healthy 2s while a client loops against them (by address, falling
// over to the next instance on a refused or reset connection). Target:
// ≤ 30 s, 0 failed requests.
//
//	FLOTILLA_SLOW=1 go test -run '^$' -bench Rollout30 -benchtime 1x -timeout 10m ./bench
func BenchmarkRollout30(b *testing.B) {
	testenv.NeedSlow(b)
	for range b.N {
		c := clStart(b)
		dir := c.ServeDir()
		ports := clustertest.FreePorts(b, 30)
		var names []string
		for _, p := range ports {
			names = append(names, fmt.Sprintf("web@%d.service", p))
		}
		v1 := clustertest.HTTPTemplate(dir, 1, "")
		c.WriteUnit("web@.service", v1)
		c.MustFleetctl("submit", "web@.service")
		c.MustFleetctl(append([]string{"start", "--no-block"}, names...)...)
		if err := c.WaitHash(names, clustertest.UnitHash(b, "web@.service", v1), 90*time.Second); err != nil {
			b.Fatal(err)
		}
		v2 := clustertest.HTTPTemplate(dir, 2, "")
		c.WriteUnit("web@.service", v2)
		loop := clustertest.Loop(ports, 4)
		b.ResetTimer()
		start := time.Now()
		c.MustFleetctl("rollout", "--max-unavailable", "3", "--min-healthy", "2s", "web@.service")
		took := time.Since(start)
		b.StopTimer()
		loop.Stop()
		if err := c.WaitHash(names, clustertest.UnitHash(b, "web@.service", v2), 10*time.Second); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(took.Seconds(), "s/rollout")
		b.ReportMetric(float64(loop.Failed.Load()), "failed-requests")
		b.ReportMetric(float64(loop.OK.Load()), "ok-requests")
		b.Logf("rollout of 30 instances, 3 at a time, min-healthy 2s: %s; requests %d ok, %d failed %v",
			took.Round(time.Millisecond), loop.OK.Load(), loop.Failed.Load(), loop.Errors)
		if took > 30*time.Second || loop.Failed.Load() > 0 {
			b.Errorf("target: ≤ 30 s and 0 failed requests")
		}
	}
}
