// Package agent is fleet's agent: one per machine. It keeps the machine
// registered on a lease, watches only its own placements, drives the local
// unitmgr.Manager to match them, and reports unit states when they change.
//
// Fencing: the agent renews its lease itself (every TTL/5), one
// registry.RenewOnce at a time, overlapping. If it cannot renew for 3/5 of
// the TTL it freezes every local unit (Manager.Freeze): they run nothing,
// so they cannot run twice, and keep their processes. A renewal answered
// before 4/5 of the TTL thaws them (Manager.Thaw): no restart. At 4/5 of
// the TTL with no renewal, or at once when etcd says the lease is gone, or
// when the manager cannot freeze, it kills them (Manager.Fence), so they
// are gone before the lease can expire and the engine can move them. Every
// such fraction comes from ttl.Timing. If the lease survives a kill, it
// starts them again; if the lease is lost, it registers anew and follows
// the placements it then finds.
// The fence timer freezes with the agent's process, so Config.Alive hands
// each renewal's deadline (ttl.Timing.Watchdog) to a watchdog outside it
// (internal/lifeline) and disarms it once the units are killed.
//
// It never places units (the engine does) and never writes outside its own
// machine's keys.
package agent
