// Package metrics is one fleetd's Prometheus metrics: a registry of its
// own per node (no state in prometheus' default registry, so in-process
// test nodes never share counters), the collectors that read what the
// node already holds at scrape time, and the HTTP handler fleetd serves
// at /metrics on the API listeners (mutual TLS, or the root-only socket)
// and on the plaintext --metrics-listen address (DefaultListen,
// 127.0.0.1:9750).
//
// Exported: New builds a *Node from Sources (Registry is its own
// registry, for tests); Handler serves it in the text format, merged with
// prometheus.DefaultGatherer, where the embedded etcd registers its own
// etcd_* metrics (and client_golang its go_* and process_* collectors). The agent and the engine report through the
// Node's methods (RenewObserved, Fenced, UnitState, Reconciled,
// LeaderWon, LeaderLost); every method is safe on a nil *Node, which
// records nothing, so tests and callers without metrics pass nil.
//
// Names (all flotilla_*):
//
//	flotilla_build_info{version,goversion}       1; the OS version
//	flotilla_machines{state}                     registered, cordoned, draining: as this node's etcd member sees them
//	flotilla_units{state}                        units placed on this machine by ActiveState (what its agent reports)
//	flotilla_unit_starts_total{unit}             observed transitions into active (a new main pid counts too)
//	flotilla_unit_restarts_total{unit}           Restart= restarts (entries into auto-restart)
//	flotilla_unit_failures_total{unit}           entries into failed, or into auto-restart with a failure reason
//	flotilla_unit_oom_kills_total{unit}          failures whose reason is the kernel's OOM kill (container units)
//	flotilla_unit_cpu_seconds_total{unit}        CPU time of the unit's cgroup
//	flotilla_unit_memory_bytes{unit}             memory charged to the unit's cgroup
//	flotilla_unit_tasks{unit}                    tasks (threads) in the unit's cgroup
//	flotilla_unit_series_dropped                 units beyond MaxUnitSeries whose series are folded into unit="_other"
//	flotilla_fences_total{action}                freeze (no renewal for 3/5 TTL) and kill (fence)
//	flotilla_lease_renewal_seconds               histogram: the machine lease's renewals, sent to answered
//	flotilla_engine_reconcile_seconds            histogram: one engine reconcile, read to written
//	flotilla_engine_placements_total             units placed on a machine they were not on
//	flotilla_engine_failovers_total              of those, units whose old machine had vanished
//	flotilla_engine_leader                       1 while this node's engine leads
//	flotilla_engine_leader_changes_total         terms this node's engine won
//
// With log forwarding, fleetd also registers internal/logforward's
// Collector: flotilla_log_forward_{sent_lines_total,dropped_lines_total,
// connected,buffered_bytes}{destination,process}.
//
// Bounds: the only label values from user input are unit names, and only
// the units this machine runs have series; past MaxUnitSeries (2000)
// distinct units, further units share the series unit="_other". A unit's
// counters are dropped when it leaves the machine. Every other label has
// a fixed set of values.
//
// Cost: nothing runs between scrapes (no goroutine, no polling, no etcd
// write). Counters are incremented where the agent and engine already
// observe the events: unit states come from the reports the agent makes
// anyway, as it writes them, so no unit manager call is added. A scrape
// makes one bounded etcd read (MachineCounts: count-only, serializable,
// answered by the local member without raft), lists the flotilla cgroups once, and
// reads three small files per unit with a cgroup of its own (container
// units, flotilla/<unit>). A whole scrape of a fleetd with 1,000 plain
// units (about 2,700 series, 240 KiB, etcd's included) takes about 11 ms
// and as much of fleetd's CPU (bench/metrics_test.go); the node's own
// collectors about 2 ms of that (BenchmarkScrape1000).
//
// On cgroup v1 a unit joins only the hierarchies its limits need
// (internal/cgroups): CPU time shows only where cpuacct is mounted with
// cpu and the unit has CPU limits, and tasks are counted from the memory
// group unless it joined pids. v2 (the Flotilla image) has all three.
package metrics
