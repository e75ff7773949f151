package bench

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
)

// BenchmarkMetricsScrape1000: one GET /metrics (the plaintext
// --metrics-listen address, the whole scrape: flotilla_*, etcd's server
// metrics, Go and process collectors) of a one-member cluster running
// 1,000 plain units (/bin/sleep), 10 s after all are active. 100 scrapes
// one after another; reports the median and max latency, and fleetd's CPU
// per scrape: its processes' utime+stime over the scrapes, less what they
// burn idle over as long a window (measured just before), divided by the
// scrapes. Target ≤ 50 ms for both. Plain units have no cgroup of their
// own, so the per-unit cgroup reads here are the failed lookups a plain
// unit costs; a container unit adds three small file reads.
//
//	go test -run '^$' -bench 'MetricsScrape1000' -benchtime 1x -timeout 20m ./bench
func BenchmarkMetricsScrape1000(b *testing.B) {
	const units, scrapes = 1000, 100
	for range b.N {
		c := clustertest.New(b, 1, 0)
		addr := fmt.Sprintf("127.0.0.1:%d", clustertest.FreePorts(b, 1)[0])
		c.Nodes[0].Extra = append(c.Nodes[0].Extra, "--metrics-listen", addr)
		c.StartAll()
		_, active, _ := dnLaunch(b, c, dnNames("m", units))
		b.Logf("%d units active in %s", units, active.Round(time.Millisecond))
		time.Sleep(dnSettle)

		url := "http://" + addr + "/metrics"
		get := func() (time.Duration, string) {
			start := time.Now()
			resp, err := http.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("scrape: %v %s", err, resp.Status)
			}
			return took, string(body)
		}
		_, body := get() // warm: the first scrape allocates the buffers the rest reuse
		if want := fmt.Sprintf(`flotilla_units{state="active"} %d`, units); !strings.Contains(body, want) {
			b.Fatalf("scrape lacks %q:\n%.3000s", want, body)
		}
		series := strings.Count(body, "\n") - 2*strings.Count(body, "\n# TYPE")

		pids := dnFleetdPIDs(b, c, c.Nodes[0])
		t0 := dnTicks(b, pids)
		idleStart := time.Now()
		time.Sleep(5 * time.Second)
		idleWall := time.Since(idleStart)
		idleTicks := dnTicks(b, pids) - t0

		t1 := dnTicks(b, pids)
		start := time.Now()
		took := make([]time.Duration, 0, scrapes)
		for range scrapes {
			d, _ := get()
			took = append(took, d)
		}
		wall := time.Since(start)
		busy := float64(dnTicks(b, pids)-t1) - float64(idleTicks)*wall.Seconds()/idleWall.Seconds()
		cpu := time.Duration(max(busy, 0) / dnClockTicks / scrapes * float64(time.Second))

		slices.Sort(took)
		med, worst := took[len(took)/2], took[len(took)-1]
		b.ReportMetric(float64(med.Microseconds())/1000, "ms-scrape-median")
		b.ReportMetric(float64(worst.Microseconds())/1000, "ms-scrape-max")
		b.ReportMetric(float64(cpu.Microseconds())/1000, "ms-cpu-per-scrape")
		b.ReportMetric(float64(len(body))/1024, "KiB-scrape")
		b.Logf("one /metrics scrape with %d units: median %s, max %s, fleetd CPU %s per scrape (idle %d ticks over %s subtracted); %d KiB, about %d series (target ≤ 50 ms)",
			units, med.Round(10*time.Microsecond), worst.Round(10*time.Microsecond), cpu.Round(10*time.Microsecond), idleTicks, idleWall.Round(time.Millisecond), len(body)/1024, series)
		c.KillAll()
	}
}
