package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// newTest is a node reading cgroups under a fresh temp dir and no default
// gatherer (nothing from other tests or etcd).
func newTest(t *testing.T, src Sources) *Node {
	t.Helper()
	if src.CgroupRoot == "" {
		src.CgroupRoot = t.TempDir()
	}
	if src.Gatherer == nil {
		src.Gatherer = prometheus.NewRegistry()
	}
	return New(src)
}

func count(c *prometheus.CounterVec, u string) float64 {
	return testutil.ToFloat64(c.WithLabelValues(u))
}

// TestUnitTransitions feeds the states an agent reports for one unit
// through a life of start, Restart= after a failure, a missed activation
// (seen only as a new pid), an OOM kill and departure, and checks each
// counter and the units gauge along the way.
func TestUnitTransitions(t *testing.T) {
	n := newTest(t, Sources{})
	const u = "web.service"
	st := func(active, sub, reason string, pid int) unit.State {
		return unit.State{Load: unit.LoadLoaded, Active: active, Sub: sub, Reason: reason, PID: pid}
	}
	steps := []struct {
		st                               unit.State
		starts, restarts, failures, ooms float64
	}{
		{st(unit.ActiveInactive, "dead", "", 0), 0, 0, 0, 0},
		{st(unit.ActiveActivating, "start", "", 0), 0, 0, 0, 0},
		{st(unit.ActiveActive, "running", "", 10), 1, 0, 0, 0},
		{st(unit.ActiveActive, "running", "", 10), 1, 0, 0, 0}, // the same report again
		{st(unit.ActiveActivating, "auto-restart", "exit-code 1", 0), 1, 1, 1, 0},
		{st(unit.ActiveActive, "running", "", 11), 2, 1, 1, 0},
		{st(unit.ActiveActive, "running", "", 12), 3, 2, 1, 0}, // restarted between two reports
		{st(unit.ActiveFailed, "failed", "oom-kill", 0), 3, 2, 2, 1},
		{st(unit.ActiveFailed, "failed", "oom-kill", 0), 3, 2, 2, 1},
	}
	for i, s := range steps {
		n.UnitState(u, s.st, true)
		got := [4]float64{count(n.starts, u), count(n.restarts, u), count(n.failures, u), count(n.ooms, u)}
		if want := [4]float64{s.starts, s.restarts, s.failures, s.ooms}; got != want {
			t.Fatalf("step %d (%s/%s pid %d): starts, restarts, failures, ooms = %v, want %v", i, s.st.Active, s.st.Sub, s.st.PID, got, want)
		}
	}
	n.UnitState("other.service", st(unit.ActiveActive, "running", "", 20), true)
	want := `# HELP flotilla_units Units placed on this machine by ActiveState, as its agent last reported them.
# TYPE flotilla_units gauge
flotilla_units{state="activating"} 0
flotilla_units{state="active"} 1
flotilla_units{state="deactivating"} 0
flotilla_units{state="failed"} 1
flotilla_units{state="inactive"} 0
`
	if err := testutil.GatherAndCompare(n.Registry(), strings.NewReader(want), "flotilla_units"); err != nil {
		t.Fatal(err)
	}
	// A unit that leaves the machine takes its series with it.
	n.UnitState(u, unit.State{}, false)
	if c := testutil.CollectAndCount(n.starts); c != 1 {
		t.Fatalf("%d start series after web.service left, want 1 (other.service)", c)
	}
	if got := testutil.ToFloat64(n.starts.WithLabelValues("other.service")); got != 1 {
		t.Fatalf("other.service starts %v, want 1", got)
	}
}

// TestUnitSeriesCap: past MaxUnitSeries units share unit="_other", the
// dropped gauge says how many, and a departed unit frees its place.
func TestUnitSeriesCap(t *testing.T) {
	n := newTest(t, Sources{})
	active := unit.State{Active: unit.ActiveActive, Sub: "running", PID: 1}
	for i := range MaxUnitSeries + 3 {
		n.UnitState(fmt.Sprintf("u%04d.service", i), active, true)
	}
	if c := testutil.CollectAndCount(n.starts); c != MaxUnitSeries+1 {
		t.Fatalf("%d start series, want %d (+1 for _other)", c, MaxUnitSeries+1)
	}
	if got := count(n.starts, OtherUnit); got != 3 {
		t.Fatalf("_other starts %v, want 3", got)
	}
	if err := testutil.GatherAndCompare(n.Registry(), strings.NewReader(`# HELP flotilla_unit_series_dropped Units on this machine past the cap of per-unit series, counted under unit="_other".
# TYPE flotilla_unit_series_dropped gauge
flotilla_unit_series_dropped 3
`), "flotilla_unit_series_dropped"); err != nil {
		t.Fatal(err)
	}
	n.UnitState("u0000.service", unit.State{}, false)
	n.UnitState("new.service", active, true)
	if got := count(n.starts, "new.service"); got != 1 {
		t.Fatalf("new.service starts %v after a place freed up, want 1", got)
	}
}

// TestCgroupUsage reads a unit's usage from fake v2 and v1 hierarchies at
// scrape time; a unit without a group (a plain unit) has no series.
func TestCgroupUsage(t *testing.T) {
	write := func(t *testing.T, dir string, files map[string]string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, v := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	active := unit.State{Active: unit.ActiveActive, Sub: "running", PID: 1}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, root string)
		want  string
	}{
		{"v2", func(t *testing.T, root string) {
			write(t, filepath.Join(root, "flotilla/c.service"), map[string]string{
				"cgroup.procs": "7\n", "cpu.stat": "usage_usec 2500000\nuser_usec 2000000\n",
				"memory.current": "1048576\n", "pids.current": "3\n"})
		}, `
flotilla_unit_cpu_seconds_total{unit="c.service"} 2.5
flotilla_unit_memory_bytes{unit="c.service"} 1.048576e+06
flotilla_unit_tasks{unit="c.service"} 3
`},
		{"v1 without cpuacct or pids", func(t *testing.T, root string) {
			write(t, filepath.Join(root, "memory/flotilla/c.service"), map[string]string{
				"cgroup.procs": "7\n", "memory.usage_in_bytes": "4096\n", "tasks": "7\n8\n"})
		}, `
flotilla_unit_memory_bytes{unit="c.service"} 4096
flotilla_unit_tasks{unit="c.service"} 2
`},
		{"v1 with cpuacct and pids", func(t *testing.T, root string) {
			write(t, filepath.Join(root, "memory/flotilla/c.service"), map[string]string{
				"cgroup.procs": "7\n", "memory.usage_in_bytes": "4096\n", "tasks": "7\n"})
			write(t, filepath.Join(root, "cpu,cpuacct/flotilla/c.service"), map[string]string{"cpuacct.usage": "1500000000\n"})
			write(t, filepath.Join(root, "pids/flotilla/c.service"), map[string]string{"pids.current": "5\n"})
		}, `
flotilla_unit_cpu_seconds_total{unit="c.service"} 1.5
flotilla_unit_memory_bytes{unit="c.service"} 4096
flotilla_unit_tasks{unit="c.service"} 5
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.setup(t, root)
			n := newTest(t, Sources{CgroupRoot: root})
			n.UnitState("c.service", active, true)
			n.UnitState("plain.service", active, true)
			if err := testutil.GatherAndCompare(n.Registry(), strings.NewReader(withHeaders(tc.want)),
				"flotilla_unit_cpu_seconds_total", "flotilla_unit_memory_bytes", "flotilla_unit_tasks"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// usageHeaders are the HELP and TYPE lines of the cgroup series.
var usageHeaders = map[string]string{
	"flotilla_unit_cpu_seconds_total": "# HELP flotilla_unit_cpu_seconds_total CPU time used by the unit's cgroup (container units; v2, or v1 with cpuacct joined).\n# TYPE flotilla_unit_cpu_seconds_total counter\n",
	"flotilla_unit_memory_bytes":      "# HELP flotilla_unit_memory_bytes Memory charged to the unit's cgroup (container units).\n# TYPE flotilla_unit_memory_bytes gauge\n",
	"flotilla_unit_tasks":             "# HELP flotilla_unit_tasks Tasks (threads) in the unit's cgroup (container units).\n# TYPE flotilla_unit_tasks gauge\n",
}

// withHeaders puts each series' HELP and TYPE lines before it.
func withHeaders(body string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
		name, _, _ := strings.Cut(l, "{")
		b.WriteString(usageHeaders[name] + l + "\n")
	}
	return b.String()
}

// TestEngineAndAgentMetrics: the engine's and agent's hooks land in their
// series; nil nodes record nothing and do not panic.
func TestEngineAndAgentMetrics(t *testing.T) {
	var none *Node
	none.Reconciled(time.Second, 1, 1)
	none.LeaderWon()
	none.LeaderLost()
	none.Fenced("kill")
	none.RenewObserved(time.Second)
	none.UnitState("x.service", unit.State{}, true)

	n := newTest(t, Sources{})
	n.LeaderWon()
	n.Reconciled(3*time.Millisecond, 4, 2)
	n.Reconciled(time.Millisecond, 0, 0)
	n.Fenced("freeze")
	n.Fenced("kill")
	n.Fenced("kill")
	n.RenewObserved(2 * time.Millisecond)
	if testutil.ToFloat64(n.leader) != 1 || testutil.ToFloat64(n.leaderChanges) != 1 {
		t.Fatal("leader gauge or changes not 1 after LeaderWon")
	}
	n.LeaderLost()
	if testutil.ToFloat64(n.leader) != 0 {
		t.Fatal("leader gauge not 0 after LeaderLost")
	}
	if p, f := testutil.ToFloat64(n.placements), testutil.ToFloat64(n.failovers); p != 4 || f != 2 {
		t.Fatalf("placements %v, failovers %v; want 4, 2", p, f)
	}
	if k, fr := count(n.fences, "kill"), count(n.fences, "freeze"); k != 2 || fr != 1 {
		t.Fatalf("fences kill %v freeze %v; want 2, 1", k, fr)
	}
	want := `# HELP flotilla_lease_renewal_seconds Machine lease renewals that were answered, from sent to answered.
# TYPE flotilla_lease_renewal_seconds histogram
flotilla_lease_renewal_seconds_bucket{le="0.001"} 0
flotilla_lease_renewal_seconds_bucket{le="0.0025"} 1
flotilla_lease_renewal_seconds_bucket{le="0.005"} 1
flotilla_lease_renewal_seconds_bucket{le="0.01"} 1
flotilla_lease_renewal_seconds_bucket{le="0.025"} 1
flotilla_lease_renewal_seconds_bucket{le="0.05"} 1
flotilla_lease_renewal_seconds_bucket{le="0.1"} 1
flotilla_lease_renewal_seconds_bucket{le="0.25"} 1
flotilla_lease_renewal_seconds_bucket{le="0.5"} 1
flotilla_lease_renewal_seconds_bucket{le="1"} 1
flotilla_lease_renewal_seconds_bucket{le="2"} 1
flotilla_lease_renewal_seconds_bucket{le="3"} 1
flotilla_lease_renewal_seconds_bucket{le="+Inf"} 1
flotilla_lease_renewal_seconds_sum 0.002
flotilla_lease_renewal_seconds_count 1
`
	if err := testutil.GatherAndCompare(n.Registry(), strings.NewReader(want), "flotilla_lease_renewal_seconds"); err != nil {
		t.Fatal(err)
	}
	if c := testutil.CollectAndCount(n.reconcile); c != 1 {
		t.Fatalf("reconcile histogram: %d series", c)
	}
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, b)
	}
	return string(b)
}

// TestHandler: a scrape carries the build info, the machine counts, and
// the other gatherer's metrics (etcd's, in fleetd); when etcd cannot be
// read, the rest is still served.
func TestHandler(t *testing.T) {
	other := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "etcd_server_has_leader", Help: "from etcd"})
	g.Set(1)
	other.MustRegister(g)
	var fail error
	n := newTest(t, Sources{Version: "1.2.3", Gatherer: other, Machines: func(context.Context) (registry.MachineCounts, error) {
		return registry.MachineCounts{Registered: 3, Cordoned: 1}, fail
	}})
	body := scrape(t, n.Handler())
	for _, line := range []string{
		`flotilla_build_info{goversion="`, `version="1.2.3"} 1`,
		`flotilla_machines{state="registered"} 3`, `flotilla_machines{state="cordoned"} 1`, `flotilla_machines{state="draining"} 0`,
		`flotilla_units{state="active"} 0`, `etcd_server_has_leader 1`, `flotilla_fences_total{action="kill"} 0`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("scrape lacks %q", line)
		}
	}
	if t.Failed() {
		t.Fatalf("scrape:\n%s", body)
	}
	fail = errors.New("etcd down")
	body = scrape(t, n.Handler())
	if strings.Contains(body, "flotilla_machines{") || !strings.Contains(body, `flotilla_units{state="active"} 0`) {
		t.Fatalf("with etcd unreadable, want no machines but the rest:\n%s", body)
	}
}

// TestPromtoolChecksScrape: Prometheus' own linter parses a scrape and
// finds nothing to say about our series.
func TestPromtoolChecksScrape(t *testing.T) {
	testenv.NeedCommand(t, "promtool")
	n := newTest(t, Sources{Version: "1.2.3", Gatherer: prometheus.DefaultGatherer})
	n.UnitState("web.service", unit.State{Active: unit.ActiveActive, PID: 1}, true)
	n.Reconciled(time.Millisecond, 1, 0)
	body := scrape(t, n.Handler())
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	// promtool exits 3 for lint warnings only (e.g. go_* help texts):
	// what counts is that it parsed and names no flotilla_ metric.
	if err != nil && cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "flotilla_") {
		t.Fatalf("promtool check metrics on our series:\n%s", out)
	}
}
