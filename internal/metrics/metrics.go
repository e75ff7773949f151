package metrics

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flotilla-os/flotilla/internal/cgroups"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// DefaultListen is fleetd's default --metrics-listen: loopback only, a
// port of its own (9750). Another address must be given explicitly.
const DefaultListen = "127.0.0.1:9750"

// MaxUnitSeries caps the units that get series of their own; units past
// it share unit="_other" (see the package doc).
const MaxUnitSeries = 2000

// OtherUnit is the unit label of the units past MaxUnitSeries.
const OtherUnit = "_other"

// machinesTimeout bounds the scrape's one etcd read.
const machinesTimeout = time.Second

// Sources are what the collectors read at scrape time.
type Sources struct {
	// Machines counts the cluster's machines (registry.CountMachines);
	// nil: no flotilla_machines.
	Machines func(ctx context.Context) (registry.MachineCounts, error)
	// CgroupRoot is where the cgroup hierarchies are mounted; "" is
	// cgroups.Root. Each unit's group is flotilla/<unit>, as the
	// container runtime names it.
	CgroupRoot string
	// Version is the OS version (flotilla_build_info).
	Version string
	// Gatherer is merged into every scrape; nil is
	// prometheus.DefaultGatherer, where the embedded etcd registers.
	Gatherer prometheus.Gatherer
}

// Node is one fleetd's metrics. Its methods are safe for concurrent use,
// and on a nil *Node, which records nothing.
type Node struct {
	src Sources
	reg *prometheus.Registry

	renew         prometheus.Histogram
	fences        *prometheus.CounterVec
	reconcile     prometheus.Histogram
	placements    prometheus.Counter
	failovers     prometheus.Counter
	leader        prometheus.Gauge
	leaderChanges prometheus.Counter

	starts, restarts, failures, ooms *prometheus.CounterVec

	units *unitView
}

// New registers a node's metrics in a registry of its own.
func New(src Sources) *Node {
	if src.CgroupRoot == "" {
		src.CgroupRoot = cgroups.Root
	}
	if src.Gatherer == nil {
		src.Gatherer = prometheus.DefaultGatherer
	}
	unitCounter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"unit"})
	}
	n := &Node{
		src: src,
		reg: prometheus.NewRegistry(),
		renew: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flotilla_lease_renewal_seconds",
			Help:    "Machine lease renewals that were answered, from sent to answered.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2, 3},
		}),
		fences: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flotilla_fences_total",
			Help: "Fences of this machine's units: freeze (no lease renewal for 3/5 TTL) and kill.",
		}, []string{"action"}),
		reconcile: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flotilla_engine_reconcile_seconds",
			Help:    "Engine reconciles while this node leads, from the read to the last write.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		placements: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_engine_placements_total",
			Help: "Units placed on a machine they were not placed on, by this node's engine.",
		}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_engine_failovers_total",
			Help: "Units placed anew because the machine they were placed on vanished, by this node's engine.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flotilla_engine_leader",
			Help: "1 while this node's engine leads the cluster.",
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "flotilla_engine_leader_changes_total",
			Help: "Engine leadership terms won by this node.",
		}),
		starts:   unitCounter("flotilla_unit_starts_total", "Observed starts of a unit on this machine (into active, or a new main process)."),
		restarts: unitCounter("flotilla_unit_restarts_total", "Restarts of a unit by its Restart= setting on this machine."),
		failures: unitCounter("flotilla_unit_failures_total", "Failures of a unit on this machine (into failed, or a failed run that Restart= restarts)."),
		ooms:     unitCounter("flotilla_unit_oom_kills_total", "Runs of a unit on this machine that ended in a kernel OOM kill."),
	}
	n.fences.WithLabelValues("freeze")
	n.fences.WithLabelValues("kill")
	n.units = newUnitView(n)
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "flotilla_build_info",
		Help:        "The running Flotilla version; always 1.",
		ConstLabels: prometheus.Labels{"version": src.Version, "goversion": runtime.Version()},
	})
	build.Set(1)
	n.reg.MustRegister(build, n.renew, n.fences, n.reconcile, n.placements, n.failovers,
		n.leader, n.leaderChanges, n.starts, n.restarts, n.failures, n.ooms,
		&unitsCollector{n}, &machinesCollector{n})
	return n
}

// Registry is the node's own registry (tests gather from it).
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// Handler serves the node's metrics merged with Sources.Gatherer in
// Prometheus' text format. A collector that fails (etcd unreachable)
// leaves its metrics out of that scrape; the rest are served.
func (n *Node) Handler() http.Handler {
	g := prometheus.Gatherers{n.reg, n.src.Gatherer}
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// RenewObserved records one answered lease renewal sent d ago.
func (n *Node) RenewObserved(d time.Duration) {
	if n != nil {
		n.renew.Observe(d.Seconds())
	}
}

// Fenced records a fence of the local units: "freeze" or "kill".
func (n *Node) Fenced(action string) {
	if n != nil {
		n.fences.WithLabelValues(action).Inc()
	}
}

// Reconciled records one engine reconcile that took d and placed units
// on machines they were not on (placed), failed of them because their
// machine had vanished.
func (n *Node) Reconciled(d time.Duration, placed, failed int) {
	if n == nil {
		return
	}
	n.reconcile.Observe(d.Seconds())
	n.placements.Add(float64(placed))
	n.failovers.Add(float64(failed))
}

// LeaderWon records that this node's engine won a term.
func (n *Node) LeaderWon() {
	if n != nil {
		n.leader.Set(1)
		n.leaderChanges.Inc()
	}
}

// LeaderLost records that the term ended.
func (n *Node) LeaderLost() {
	if n != nil {
		n.leader.Set(0)
	}
}

// machinesCollector makes the scrape's one etcd read.
type machinesCollector struct{ n *Node }

var machinesDesc = prometheus.NewDesc("flotilla_machines",
	"Machines as this node's etcd member sees them: registered (live lease), cordoned, draining (the updater's pre-reboot mark).",
	[]string{"state"}, nil)

func (c *machinesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- machinesDesc }

func (c *machinesCollector) Collect(ch chan<- prometheus.Metric) {
	if c.n.src.Machines == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), machinesTimeout)
	defer cancel()
	mc, err := c.n.src.Machines(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(machinesDesc, err)
		return
	}
	for _, s := range []struct {
		state string
		n     int
	}{{"registered", mc.Registered}, {"cordoned", mc.Cordoned}, {"draining", mc.Draining}} {
		ch <- prometheus.MustNewConstMetric(machinesDesc, prometheus.GaugeValue, float64(s.n), s.state)
	}
}

var _ prometheus.Collector = (*machinesCollector)(nil)
var _ prometheus.Collector = (*unitsCollector)(nil)
