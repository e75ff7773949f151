package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// Density benchmarks (issue 6): many plain units on a 3-member loopback
// cluster of real fleetd processes, default settings. Run with
//
//	go test -run '^$' -bench 'ThousandUnits|ListUnits3000' -benchtime 1x -timeout 30m ./bench
//
// Nomad's counterparts (/work/shared/PEERS.md, same kind of machine): 300
// raw_exec tasks from submit to all running in 232–266 s, ~27–29 MB per
// task, and 85% of both cores busy with 300 idle tasks.
//
// FLOTILLA_BENCH_PERF=<dir> adds perf profiles of the idle nodes and of
// node 1 serving UnitStates over 3,000 units (density_perf_test.go), taken
// after the figures so that perf's cost is not in them.

const (
	dnWorkers   = 16                     // parallel CreateUnit calls
	dnPoll      = 250 * time.Millisecond // UnitStates poll while waiting
	dnWait      = 5 * time.Minute        // bound on every wait for units
	dnIdle      = 60 * time.Second       // idle CPU window
	dnSettle    = 10 * time.Second       // after all active, before idle figures
	dnListRuns  = 5                      // fleetctl list-units runs (median)
	dnUnitsBody = "[Service]\nExecStart=/bin/sleep 100000\n"
)

// BenchmarkThousandUnits: 1,000 plain units (/bin/sleep) submitted through
// the API (CreateUnit, desiredState launched, 16 in parallel) to a 3-node
// cluster, timed from the first submit until UnitStates shows all 1,000
// active on exactly one machine (target ≤ 20 s). Then, with the units idle:
// CPU of every node's fleetd processes (the lifeline's outer process and
// the inner fleetd, which embeds etcd, the engine, the agent and the unit
// supervisor) over 60 s (target ≤ 2% of one core per node); RSS growth of
// those processes per unit on the node (target ≤ 1 MB); and `fleetctl
// list-units --no-legend` (the binary), median of 5, beside the API call
// alone. The cluster's idle CPU without units (pct-core-idle-0u) is
// measured first, as the baseline the units add to.
func BenchmarkThousandUnits(b *testing.B) {
	const units = 1000
	for range b.N {
		c := clStart(b)
		time.Sleep(5 * time.Second)            // let etcd and the engine settle after the machines appear
		dnIdleCPU(b, c, 0, "pct-core-idle-0u") // the baseline: what the cluster costs without units
		before := dnNodeMem(b, c)
		for _, n := range c.Nodes {
			dnLog("before units: %s (%s) %s", n.Name, clRoles(c, n), before[n.Name])
		}

		names := dnNames("k", units)
		submit, active, per := dnLaunch(b, c, names)
		b.ReportMetric(active.Seconds(), "s-all-active")
		b.ReportMetric(submit.Seconds(), "s-submit")
		b.Logf("%d units: submitted in %.2f s, all active %.2f s after the first submit (target ≤ 20 s; Nomad: 300 tasks in 232–266 s); per node %s",
			units, submit.Seconds(), active.Seconds(), dnPer(c, per))

		// Memory right after all active (Go's heap still holds the start burst's garbage).
		after := dnNodeMem(b, c)
		dnReportMem(b, c, before, after, per, "all active", "KB-per-unit-at-active")

		time.Sleep(dnSettle)
		dnIdleCPU(b, c, units, "pct-core-idle")
		dnPerfIdle(b, c)

		after = dnNodeMem(b, c)
		dnReportMem(b, c, before, after, per, fmt.Sprintf("after %s idle", dnSettle+dnIdle), "KB-per-unit")

		med := dnListUnits(b, c, units)
		b.ReportMetric(float64(med.Microseconds())/1000, "ms-list-units-1k")
		b.ReportMetric(float64(dnMedian(dnAPIStates(b, c, units)).Microseconds())/1000, "ms-api-states-1k")
	}
}

// BenchmarkListUnits3000: `fleetctl list-units --no-legend` (the binary,
// median of 5) over 3,000 unit states, target ≤ 500 ms. list-units shows
// the state each machine reports, so the fair setup is 3,000 units that
// really run: 3,000 launched /bin/sleep units on the 3-node cluster (~1,000
// per node, the "node with a thousand units"). Submitting inactive
// or loaded units instead would list fewer or cheaper states. Also reports
// the time to all 3,000 active, and the API's UnitStates call alone (the
// in-process client, no fleetctl process start and no table printing).
func BenchmarkListUnits3000(b *testing.B) {
	const units = 3000
	for range b.N {
		c := clStart(b)
		time.Sleep(5 * time.Second)
		names := dnNames("l", units)
		submit, active, per := dnLaunch(b, c, names)
		b.ReportMetric(active.Seconds(), "s-all-active-3k")
		b.Logf("%d units: submitted in %.2f s, all active after %.2f s; per node %s", units, submit.Seconds(), active.Seconds(), dnPer(c, per))
		time.Sleep(dnSettle)

		med := dnListUnits(b, c, units)
		b.ReportMetric(float64(med.Microseconds())/1000, "ms-list-units-3k")

		// Where the time goes: the API call alone, and fleetctl's fixed cost.
		api := c.Client(c.Nodes[0])
		apiTook := dnAPIStates(b, c, units)
		b.ReportMetric(float64(dnMedian(apiTook).Microseconds())/1000, "ms-api-states-3k")
		dnPerf(b, "states-3k", dnFleetdPIDs(b, c, c.Nodes[0]), func() {
			for range 10 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, _ = api.UnitStates(ctx, client.StateFilter{})
				cancel()
			}
		})
		var machTook []time.Duration
		for range dnListRuns {
			t0 := time.Now()
			c.MustFleetctl("list-machines", "--no-legend")
			machTook = append(machTook, time.Since(t0))
		}
		b.Logf("3,000 states: fleetctl list-units median %s; the API's UnitStates alone (in-process client) median %s %v; "+
			"fleetctl list-machines (process start + one small request) median %s",
			med.Round(time.Millisecond), dnMedian(apiTook).Round(time.Millisecond), clRound(apiTook), dnMedian(machTook).Round(time.Millisecond))
	}
}

func dnNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%05d.service", prefix, i)
	}
	return names
}

// dnLaunch submits names (launched) through the API with dnWorkers in
// parallel, then polls UnitStates every dnPoll until every unit is active on
// exactly one machine. It returns the time from the first submit until the
// last submit returned, until all were active, and units per machine ID.
func dnLaunch(b *testing.B, c *clustertest.Cluster, names []string) (submit, active time.Duration, per map[string]int) {
	b.Helper()
	f, err := unit.Parse("x.service", []byte(dnUnitsBody))
	if err != nil {
		b.Fatal(err)
	}
	api := c.Client(c.Nodes[0])
	var machines []string
	for _, n := range c.Nodes {
		machines = append(machines, n.MachineID())
	}

	var next, retries atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range dnWorkers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(names)); i = next.Add(1) - 1 {
				u := &schema.Unit{Name: names[i], Options: f.Options, DesiredState: "launched"}
				var err error
				for try := range 3 { // a timed-out PUT may have been stored: the same contents again is accepted
					if try > 0 {
						retries.Add(1)
						time.Sleep(time.Second)
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					err = api.CreateUnit(ctx, u, false)
					cancel()
					if err == nil {
						break
					}
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("CreateUnit %s: %w", names[i], err))
					return
				}
			}
		})
	}
	wg.Wait()
	submit = time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		b.Fatal(err)
	}
	if r := retries.Load(); r > 0 {
		b.Logf("CreateUnit: %d retries", r)
	}

	deadline := start.Add(dnWait)
	lastLog := time.Now()
	var pollErrs int
	for {
		st, err := clUnitStates(api)
		if err == nil {
			err = clAllActiveOn(st, names, machines)
			if err == nil {
				active = time.Since(start)
				per = map[string]int{}
				for _, u := range names {
					for _, m := range clustertest.ActiveOn(st, u) {
						per[m]++
					}
				}
				if pollErrs > 0 {
					b.Logf("UnitStates: %d polls failed while waiting", pollErrs)
				}
				return submit, active, per
			}
		} else {
			pollErrs++
		}
		if time.Now().After(deadline) {
			b.Fatalf("after %s: %v", dnWait, err)
		}
		if time.Since(lastLog) >= 5*time.Second {
			fmt.Fprintf(os.Stderr, "density: %5.1f s after first submit: %v\n", time.Since(start).Seconds(), err)
			lastLog = time.Now()
		}
		time.Sleep(dnPoll)
	}
}

func dnPer(c *clustertest.Cluster, per map[string]int) string {
	var s []string
	for _, n := range c.Nodes {
		s = append(s, fmt.Sprintf("%s=%d", n.Name, per[n.MachineID()]))
	}
	return strings.Join(s, " ")
}

// dnIdleCPU sums utime+stime of each node's fleetd processes over dnIdle and
// reports the max over nodes as pct-core-idle (and the sum as
// pct-core-idle-all).
func dnIdleCPU(b *testing.B, c *clustertest.Cluster, units int, metric string) float64 {
	b.Helper()
	pids := map[string][]int{}
	t0 := map[string]int64{}
	for _, n := range c.Nodes {
		pids[n.Name] = dnFleetdPIDs(b, c, n)
		t0[n.Name] = dnTicks(b, pids[n.Name])
	}
	start := time.Now()
	time.Sleep(dnIdle)
	wall := time.Since(start)
	var worst, total float64
	for _, n := range c.Nodes {
		d := dnTicks(b, pids[n.Name]) - t0[n.Name]
		pct := float64(d) / dnClockTicks / wall.Seconds() * 100
		dnLog("idle CPU over %s with %d units: %s (%s, pids %v) %d ticks = %.2f%% of one core", wall.Round(time.Millisecond), units, n.Name, clRoles(c, n), pids[n.Name], d, pct)
		worst, total = max(worst, pct), total+pct
	}
	b.ReportMetric(worst, metric)
	b.ReportMetric(total, metric+"-all")
	b.Logf("idle CPU with %d units: worst node %.2f%%, all 3 nodes %.2f%% of one core (target ≤ 2%% per node; Nomad, 300 idle tasks: 85%% of both cores)", units, worst, total)
	return worst
}

// USER_HZ: /proc/<pid>/stat counts clock ticks of 1/100 s on Linux.
const dnClockTicks = 100

// dnFleetdPIDs is the node's harness pid and its descendants running the
// fleetd binary (the lifeline's inner fleetd); unit processes are excluded.
func dnFleetdPIDs(b *testing.B, c *clustertest.Cluster, n *clustertest.Node) []int {
	b.Helper()
	outer := n.PID()
	if outer == 0 {
		b.Fatalf("%s is not running", n.Name)
	}
	want := map[string]bool{c.Bin.Fleetd: true}
	if r, err := filepath.EvalSymlinks(c.Bin.Fleetd); err == nil {
		want[r] = true
	}
	pids := []int{outer}
	for _, p := range clustertest.Descendants(outer) {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		if err == nil && want[exe] {
			pids = append(pids, p)
		}
	}
	slices.Sort(pids)
	return pids
}

// dnTicks sums utime+stime (fields 14 and 15 of /proc/<pid>/stat).
func dnTicks(b *testing.B, pids []int) int64 {
	b.Helper()
	var sum int64
	for _, p := range pids {
		s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			b.Fatalf("pid %d: %v", p, err)
		}
		f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+1:]))
		// f[0] is field 3 (state): utime is f[11], stime f[12].
		var ut, st int64
		fmt.Sscan(f[11], &ut)
		fmt.Sscan(f[12], &st)
		sum += ut + st
	}
	return sum
}

type dnMem struct {
	pids           []int
	rss, anon, pss float64 // MB, summed over the node's fleetd processes
}

func (m dnMem) String() string {
	return fmt.Sprintf("pids %v RSS %.1f MB (anon %.1f, PSS %.1f)", m.pids, m.rss, m.anon, m.pss)
}

func dnNodeMem(b *testing.B, c *clustertest.Cluster) map[string]dnMem {
	b.Helper()
	out := map[string]dnMem{}
	for _, n := range c.Nodes {
		var m dnMem
		m.pids = dnFleetdPIDs(b, c, n)
		for _, p := range m.pids {
			m.rss += clVmRSS(b, p)
			mm := clMem(p)
			m.anon += mm["RssAnon"]
			m.pss += mm["Pss"]
		}
		out[n.Name] = m
	}
	return out
}

// dnReportMem logs per-node RSS growth per unit on that node and reports
// the worst node as metric (KB = 1000 bytes).
func dnReportMem(b *testing.B, c *clustertest.Cluster, before, after map[string]dnMem, per map[string]int, when, metric string) {
	b.Helper()
	var worst float64
	for _, n := range c.Nodes {
		u := per[n.MachineID()]
		bm, am := before[n.Name], after[n.Name]
		kb := 0.0
		if u > 0 {
			kb = (am.rss - bm.rss) * 1000 / float64(u)
		}
		dnLog("%s: %s %s; RSS +%.1f MB (anon +%.1f) for %d units = %.0f KB/unit",
			when, n.Name, am, am.rss-bm.rss, am.anon-bm.anon, u, kb)
		worst = max(worst, kb)
	}
	b.ReportMetric(worst, metric)
	b.Logf("%s: worst node %.0f KB of fleetd RSS per unit (target ≤ 1 MB; Nomad ~27–29 MB per task)", when, worst)
}

// dnListUnits runs `fleetctl list-units --no-legend` dnListRuns times,
// checks it lists want lines, and returns the median wall time.
func dnListUnits(b *testing.B, c *clustertest.Cluster, want int) time.Duration {
	b.Helper()
	var took []time.Duration
	for range dnListRuns {
		t0 := time.Now()
		out := c.MustFleetctl("list-units", "--no-legend")
		took = append(took, time.Since(t0))
		if got := strings.Count(out, "\n"); got != want {
			b.Fatalf("list-units printed %d lines, want %d", got, want)
		}
	}
	med := dnMedian(took)
	dnLog("fleetctl list-units --no-legend with %d units: median %s of %v", want, med.Round(time.Millisecond), clRound(took))
	return med
}

func dnMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// dnLog writes a detail line to stderr: b.Log output of a benchmark is cut at 10 lines.
func dnLog(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "density: "+format+"\n", args...)
}

// dnAPIStates times the API's UnitStates call alone (the in-process client
// against node 1: no fleetctl process, no table), dnListRuns times.
func dnAPIStates(b *testing.B, c *clustertest.Cluster, want int) []time.Duration {
	b.Helper()
	api := c.Client(c.Nodes[0])
	var took []time.Duration
	for range dnListRuns {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t0 := time.Now()
		sts, err := api.UnitStates(ctx, client.StateFilter{})
		d := time.Since(t0)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if len(sts) != want {
			b.Fatalf("UnitStates returned %d states, want %d", len(sts), want)
		}
		took = append(took, d)
	}
	dnLog("API UnitStates with %d units: median %s of %v", want, dnMedian(took).Round(time.Millisecond), clRound(took))
	return took
}
