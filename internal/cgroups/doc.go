// Package cgroups puts a unit's processes in a control group with the
// resource limits of its [Service] section, on pure cgroup v2 hosts (the
// Flotilla image) and on hybrid or legacy v1 hosts (development machines).
//
// Layout: New("flotilla/web.service", r) creates
//
//	unified:        /sys/fs/cgroup/flotilla/web.service (enabling the needed
//	                controllers in cgroup.subtree_control of the parents)
//	hybrid, legacy: /sys/fs/cgroup/<controller>/flotilla/web.service for
//	                memory and freezer, and pids, cpu, blkio and devices when
//	                the limits use them (those mounted)
//
// Limits, systemd key → v2 file → v1 file:
//
//	MemoryMax  → memory.max  → memory.limit_in_bytes
//	MemoryHigh → memory.high → memory.soft_limit_in_bytes (v1 has no throttling
//	             limit; the soft limit only steers reclaim under global pressure)
//	CPUQuota   → cpu.max "<pct*1000> 100000" → cpu.cfs_quota_us, cpu.cfs_period_us=100000
//	CPUWeight  → cpu.weight  → cpu.shares = weight*1024/100, clamped to 2..262144
//	TasksMax   → pids.max    → pids.max
//	IOWeight   → io.weight (or io.bfq.weight) → blkio.weight (or blkio.bfq.weight),
//	             scaled 1..10000 → 10..1000; skipped when the host's I/O
//	             scheduler exposes no weight file (no error: as systemd, a
//	             missing I/O controller does not stop the unit)
//
// Devices (a container's allow-list, not a systemd key here): v1 joins the
// devices hierarchy and writes "a *:* rwm" to devices.deny, then each rule to
// devices.allow; v2 attaches a BPF_CGROUP_DEVICE program (containerd's
// filter, through cilium/ebpf) to the group. DefaultDevices is Docker's list.
//
// OOMKilled reads the kernel's oom_kill counter: memory.events (v2) or the
// oom_kill line of memory.oom_control (v1, kernel 4.13+). It counts kills
// only, not reclaim pressure or throttling (v1's failcnt counts every time
// the limit was hit, which happens without any kill).
//
// What it owns: everything under the flotilla subtree of each hierarchy.
// What it must not touch: the host's hierarchies (nothing is mounted or
// remounted, nothing outside the subtree is written except
// cgroup.subtree_control of the parents on v2), and reaping: Kill only
// signals, the supervisor's wait4 collects the exits.
package cgroups
