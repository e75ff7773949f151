package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// autoRestart is the sub state of a unit waiting out RestartSec=.
const autoRestart = "auto-restart"

// oomReason is the container runtime's failure reason for an OOM kill.
const oomReason = "oom-kill"

// unitView is the last state the agent reported for each unit placed on
// this machine, fed as it reports them (UnitState): the view the units
// gauge and the per-unit cgroup reads iterate at scrape time.
type unitView struct {
	n      *Node
	mu     sync.Mutex
	states map[string]unit.State
	labels map[string]string // unit → its label value (itself, or OtherUnit)
	own    int               // units labelled with their own name
}

func newUnitView(n *Node) *unitView {
	return &unitView{n: n, states: map[string]unit.State{}, labels: map[string]string{}}
}

// UnitState is told each state the agent reports for a unit placed here
// (ok), or that the unit is no longer reported here (!ok). Transitions
// between two reports count as starts, restarts, failures and OOM kills.
// Reports are coalesced (the agent batches changes for 10 ms), so a start
// whose activation was not seen still counts through its new main pid,
// as a start and a restart, but a failure in between is then missed.
func (n *Node) UnitState(name string, st unit.State, ok bool) {
	if n != nil {
		n.units.observe(name, st, ok)
	}
}

func (v *unitView) observe(name string, st unit.State, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	prev, had := v.states[name]
	if !ok {
		if had {
			delete(v.states, name)
			v.unlabel(name)
		}
		return
	}
	v.states[name] = st
	l := v.label(name)
	wasActive := had && prev.Active == unit.ActiveActive
	newPID := wasActive && st.PID != 0 && prev.PID != 0 && st.PID != prev.PID
	if st.Active == unit.ActiveActive && (!wasActive || newPID) {
		v.n.starts.WithLabelValues(l).Inc()
	}
	restart := st.Sub == autoRestart && (!had || prev.Sub != autoRestart)
	if restart || (newPID && st.Active == unit.ActiveActive) {
		v.n.restarts.WithLabelValues(l).Inc()
	}
	failed := st.Active == unit.ActiveFailed && (!had || prev.Active != unit.ActiveFailed)
	if failed || (restart && st.Reason != "") {
		v.n.failures.WithLabelValues(l).Inc()
		if st.Reason == oomReason {
			v.n.ooms.WithLabelValues(l).Inc()
		}
	}
}

// label is name's label value, given on first sight; v.mu is held.
func (v *unitView) label(name string) string {
	if l, ok := v.labels[name]; ok {
		return l
	}
	l := OtherUnit
	if v.own < MaxUnitSeries {
		l = name
		v.own++
	}
	v.labels[name] = l
	return l
}

// unlabel drops a departed unit's series; v.mu is held.
func (v *unitView) unlabel(name string) {
	l := v.labels[name]
	delete(v.labels, name)
	if l != name {
		return // the shared series stays
	}
	v.own--
	for _, c := range []*prometheus.CounterVec{v.n.starts, v.n.restarts, v.n.failures, v.n.ooms} {
		c.DeleteLabelValues(name)
	}
}

// unitsCollector reads the view and each unit's cgroup at scrape time.
type unitsCollector struct{ n *Node }

var (
	unitsDesc   = prometheus.NewDesc("flotilla_units", "Units placed on this machine by ActiveState, as its agent last reported them.", []string{"state"}, nil)
	cpuDesc     = prometheus.NewDesc("flotilla_unit_cpu_seconds_total", "CPU time used by the unit's cgroup (container units; v2, or v1 with cpuacct joined).", []string{"unit"}, nil)
	memDesc     = prometheus.NewDesc("flotilla_unit_memory_bytes", "Memory charged to the unit's cgroup (container units).", []string{"unit"}, nil)
	tasksDesc   = prometheus.NewDesc("flotilla_unit_tasks", "Tasks (threads) in the unit's cgroup (container units).", []string{"unit"}, nil)
	droppedDesc = prometheus.NewDesc("flotilla_unit_series_dropped", "Units on this machine past the cap of per-unit series, counted under unit=\"_other\".", nil, nil)
)

var activeStates = []string{unit.ActiveActive, unit.ActiveActivating, unit.ActiveDeactivating, unit.ActiveFailed, unit.ActiveInactive}

func (c *unitsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{unitsDesc, cpuDesc, memDesc, tasksDesc, droppedDesc} {
		ch <- d
	}
}

func (c *unitsCollector) Collect(ch chan<- prometheus.Metric) {
	v := c.n.units
	v.mu.Lock()
	byState := make(map[string]int, len(activeStates))
	for _, st := range v.states {
		byState[st.Active]++
	}
	labels := make(map[string]string, len(v.labels))
	for name, l := range v.labels {
		labels[name] = l
	}
	dropped := len(v.states) - v.own
	v.mu.Unlock()

	for _, s := range activeStates {
		ch <- prometheus.MustNewConstMetric(unitsDesc, prometheus.GaugeValue, float64(byState[s]), s)
	}
	ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.GaugeValue, float64(dropped))
	c.collectCgroups(ch, labels)
}

// collectCgroups reads each unit's cgroup; units sharing OtherUnit are
// summed. Units without a group of their own (plain units) have none:
// one listing of the flotilla groups finds them without a lookup each.
func (c *unitsCollector) collectCgroups(ch chan<- prometheus.Metric, labels map[string]string) {
	var other cgroups.Usage
	groups := cgroups.Children(c.n.src.CgroupRoot, "flotilla")
	for name, l := range labels {
		if !groups[name] {
			continue
		}
		u, err := cgroups.ReadUsage(c.n.src.CgroupRoot, "flotilla/"+name)
		if err != nil { // os.ErrNotExist: no group of its own
			continue
		}
		if l == OtherUnit {
			other.CPU += u.CPU
			other.Memory += u.Memory
			other.Tasks += u.Tasks
			other.HasCPU, other.HasMemory, other.HasTasks = other.HasCPU || u.HasCPU, other.HasMemory || u.HasMemory, other.HasTasks || u.HasTasks
			continue
		}
		emitUsage(ch, l, u)
	}
	emitUsage(ch, OtherUnit, other)
}

func emitUsage(ch chan<- prometheus.Metric, label string, u cgroups.Usage) {
	if u.HasCPU {
		ch <- prometheus.MustNewConstMetric(cpuDesc, prometheus.CounterValue, u.CPU.Seconds(), label)
	}
	if u.HasMemory {
		ch <- prometheus.MustNewConstMetric(memDesc, prometheus.GaugeValue, float64(u.Memory), label)
	}
	if u.HasTasks {
		ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(u.Tasks), label)
	}
}
