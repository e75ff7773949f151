// Package agent is fleet's agent: one per machine. It keeps the machine
// registered on a lease, watches only its own placements, drives the local
// unitmgr.Manager to match them, and reports unit states when they change.
//
// Fencing: the agent renews its lease itself (every TTL/5), one
// registry.RenewOnce at a time, overlapping. If it cannot renew for 3/5 of
// the TTL it kills every local unit (Manager.Fence) with a deadline of 4/5
// of the TTL, so its units are gone before the lease can expire and the
// engine can move them. Every such fraction comes from ttl.Timing. If the lease survives, it starts them
// again; if the lease is lost, it registers anew and follows the placements
// it then finds. The fence timer freezes with the agent's process, so
// Config.Alive hands each renewal's kill deadline to a watchdog outside it
// (internal/lifeline) and disarms it once fenced.
//
// It never places units (the engine does) and never writes outside its own
// machine's keys.
package agent
