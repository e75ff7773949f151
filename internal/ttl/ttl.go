package ttl

import "time"

// Default is fleetd's --ttl default (also its maximum).
const Default = 5 * time.Second

// Timing is every duration derived from a machine lease TTL. For the
// default TTL of 5 s: renew every 1 s, fence at 3 s, units dead by 4 s,
// restore only with 1 s to spare, retry after 500 ms, election session 2 s,
// and the unit manager fences 3 s after fleetd's last keepalive.
type Timing struct {
	TTL time.Duration
}

// Of returns the timing of a lease TTL.
func Of(ttl time.Duration) Timing { return Timing{TTL: ttl} }

// Renew is how often the agent sends a lease renewal (TTL/5).
func (t Timing) Renew() time.Duration { return t.TTL / 5 }

// Fence is how long after the last answered renewal the agent kills its
// units (3/5 TTL). It also bounds how long one renewal may wait.
func (t Timing) Fence() time.Duration { return t.TTL * 3 / 5 }

// Watchdog is by when, after the last answered renewal, the watchdog
// outside the agent (the lifeline) kills fleetd and its units: after the
// agent's own kill at KillDeadline, which freeze-first fencing reaches
// only then, and before the lease can expire (a full TTL after that
// renewal was sent, at the earliest).
func (t Timing) Watchdog() time.Duration { return t.TTL * 9 / 10 }

// KillDeadline is by when, after the last answered renewal, fenced units
// must be dead (4/5 TTL): before the lease can expire.
func (t Timing) KillDeadline() time.Duration { return t.TTL * 4 / 5 }

// LostKill is how long fenced units may take to die once the lease is
// known to be gone (TTL/5).
func (t Timing) LostKill() time.Duration { return t.TTL / 5 }

// RestoreMargin is how much time before the next fence a renewal must
// leave for a fenced agent to start its units again (TTL/5): a later
// answer would restart them only to kill them a moment after.
func (t Timing) RestoreMargin() time.Duration { return t.TTL / 5 }

// Retry is the pause before a new session or watch after one failed
// (TTL/10).
func (t Timing) Retry() time.Duration { return t.TTL / 10 }

// Election is the engine's leadership session TTL (2/5 TTL; etcd grants
// whole seconds, at least 1). When the dead leader was also etcd's raft
// leader, etcd extends every lease by an election timeout on the new raft
// leader, and the shorter session still lets another engine take over
// within one machine TTL.
func (t Timing) Election() time.Duration { return t.TTL * 2 / 5 }

// ManagerFence is how long a unit manager in another process (init's,
// internal/unitmgr/remote) waits without a keepalive from fleetd before it
// kills every unit (3/5 TTL, as the agent's own fence). fleetd dies at d,
// its last keepalive arrived at or before d, and its last answered renewal
// was at most Renew before d: the units die by d + 3/5 TTL, the lease
// lives until at least d + 4/5 TTL.
func (t Timing) ManagerFence() time.Duration { return t.Fence() }

// MassLossHold is how long the engine leaves placements alone while more
// machines that hold units have vanished than remain (one TTL): a stale
// etcd leader that resumes can revoke the leases of live machines
// (etcd-io/etcd#15247), which then register again within Retry. A real
// loss of most machines moves units one TTL later.
func (t Timing) MassLossHold() time.Duration { return t.TTL }

// RaftElection is the etcd members' election timeout (etcd's
// --election-timeout; TTL/10, at least 500 ms, etcd's default is 1 s).
// When the member that is raft's leader dies, the others notice after
// one to two election timeouts, and the new leader extends every lease by
// one more (etcd's lessor Promote) before it can expire: a dead leader's
// machine keeps its lease for about three election timeouts past the
// TTL, and its units move that much later than any other machine's. A
// renewal is in flight at most Fence, so the short leaderless spell of a
// spurious election under load costs no fence.
func (t Timing) RaftElection() time.Duration { return max(t.TTL/10, 500*time.Millisecond) }

// RaftHeartbeat is the etcd leader's heartbeat interval (etcd's
// --heartbeat-interval): a tenth of RaftElection, etcd's own ratio.
func (t Timing) RaftHeartbeat() time.Duration { return t.RaftElection() / 10 }

// DeadLeaderHold is how long after the engine revoked the lease of a
// machine that died with etcd's raft leader its units may still run
// (internal/engine, MachineDied). Each renewal its agent counted was sent
// before the revoke, or was answered by the deposed raft leader, which
// steps down (raft's CheckQuorum) at most RaftElection after the new
// leader took over, plus three heartbeats (etcd skips its leadership check
// for a member whose raft ticked within three) — and before the revoke.
// A live agent's units are dead KillDeadline after its last counted
// renewal, a stalled agent's are killed by the lifeline at Watchdog: the
// later of the two bounds (4.65 s at the default TTL).
func (t Timing) DeadLeaderHold() time.Duration {
	return max(t.Watchdog(), t.RaftElection()+3*t.RaftHeartbeat()+t.KillDeadline())
}
