package engine

import (
	"context"
	"time"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/ttl"
)

// MachineDied is told, on every fleetd and whether or not this engine
// leads, that the etcd member called name was raft's leader and its
// process is gone (etcdnode.OnLeaderDeath). Its machine's lease would
// live on for the new raft leader's extension plus a full TTL; instead
// it is revoked now (registry.FenceDeadMachine), and the machine's units
// move DeadLeaderHold (4.65 s at the default TTL) after the revoke
// returned.
//
// Why that is safe: the agent counts a renewal from when it was sent,
// and its units are dead KillDeadline after the last one it counted, or,
// if the agent itself is stalled, killed by the lifeline at Watchdog. A
// renewal answered after the revoke fails, so each one counted was sent
// before it, however long it was in flight; one answered by the deposed
// leader while it still believed it led (a partition, not a death, if
// the refused port lied) was sent at most an election timeout and three
// heartbeats after the new leader took over, before this call (see
// ttl.DeadLeaderHold).
func (e *Engine) MachineDied(ctx context.Context, name string) {
	id, err := e.reg.FenceDeadMachine(ctx, name, e.hold())
	if id != "" {
		// After the revoke, if it happened: hold from now.
		at := time.Now()
		e.mu.Lock()
		e.fencedAt[id] = at
		e.mu.Unlock()
	}
	if err != nil {
		e.cfg.Logf("engine: machine %s died with etcd's raft leader: %v", name, err)
		return
	}
	if id == "" {
		return
	}
	e.cfg.Logf("engine: machine %s (%s) died with etcd's raft leader: lease revoked, its units move in %s", name, id, e.hold())
}

// hold is how long after a dead machine's lease was revoked its units
// may still be running.
func (e *Engine) hold() time.Duration { return ttl.Of(e.cfg.TTL).DeadLeaderHold() }

// holdFenced returns the machines that hold placements, vanished, and
// were fenced less than hold ago (by this fleetd, per fencedAt, or by
// another, per the marks in fenced), with how long until the next of them
// may move (zero when none is held).
func (e *Engine) holdFenced(snap *registry.Snapshot, fenced map[string]bool, now time.Time) (map[string]bool, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	held := map[string]bool{}
	var wait time.Duration
	for _, ps := range snap.Placements {
		for _, p := range ps {
			m := p.Machine
			if snap.Machines[m] != nil || held[m] {
				continue
			}
			if at, ok := e.fencedAt[m]; ok {
				if left := at.Add(e.hold()).Sub(now); left > 0 {
					held[m] = true
					if wait == 0 || left < wait {
						wait = left
					}
				}
				continue
			}
			if fenced[m] {
				// Marked by another fleetd: hold until the mark expires.
				held[m] = true
				if r := ttl.Of(e.cfg.TTL).Retry(); wait == 0 || r < wait {
					wait = r
				}
			}
		}
	}
	for m, at := range e.fencedAt {
		if now.Sub(at) > e.hold() {
			delete(e.fencedAt, m)
		}
	}
	return held, wait
}

// withoutHeld is snap without the units placed on a held machine: Plan
// then neither moves nor touches them.
func withoutHeld(snap *registry.Snapshot, held map[string]bool) *registry.Snapshot {
	if len(held) == 0 {
		return snap
	}
	out := *snap
	out.Units, out.Desired, out.Unplaced = map[string]*registry.UnitRecord{}, map[string]string{}, map[string]string{}
	out.Placements = map[string][]*registry.Placement{}
	skip := map[string]bool{}
	for name, ps := range snap.Placements {
		for _, p := range ps {
			if held[p.Machine] {
				skip[name] = true
			}
		}
	}
	for name, u := range snap.Units {
		if !skip[name] {
			out.Units[name] = u
		}
	}
	for name, d := range snap.Desired {
		if !skip[name] {
			out.Desired[name] = d
		}
	}
	for name, r := range snap.Unplaced {
		if !skip[name] {
			out.Unplaced[name] = r
		}
	}
	for name, ps := range snap.Placements {
		if !skip[name] {
			out.Placements[name] = ps
		}
	}
	return &out
}
