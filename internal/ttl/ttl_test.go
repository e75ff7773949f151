package ttl

import (
	"testing"
	"time"
)

// TestDefault pins the values fleetd has always used at --ttl 5s.
func TestDefault(t *testing.T) {
	tm := Of(Default)
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"renew", tm.Renew(), time.Second},
		{"fence", tm.Fence(), 3 * time.Second},
		{"kill deadline", tm.KillDeadline(), 4 * time.Second},
		{"watchdog", tm.Watchdog(), 4500 * time.Millisecond},
		{"lost kill", tm.LostKill(), time.Second},
		{"restore margin", tm.RestoreMargin(), time.Second},
		{"retry", tm.Retry(), 500 * time.Millisecond},
		{"election", tm.Election(), 2 * time.Second},
		{"manager fence", tm.ManagerFence(), 3 * time.Second},
		{"raft election", tm.RaftElection(), 500 * time.Millisecond},
		{"raft heartbeat", tm.RaftHeartbeat(), 50 * time.Millisecond},
		{"dead leader hold", tm.DeadLeaderHold(), 4650 * time.Millisecond},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.name, c.got, c.want)
		}
	}
}

// TestOrder: for any TTL, units are killed before the lease can expire,
// and a unit manager that lost fleetd kills them before the lease of a
// fleetd that renewed on time (last renewal at most Renew before it died).
func TestOrder(t *testing.T) {
	for _, ttl := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, Default} {
		tm := Of(ttl)
		if !(tm.Renew() < tm.Fence() && tm.Fence() < tm.KillDeadline() && tm.KillDeadline() < ttl) {
			t.Errorf("ttl %s: renew %s, fence %s, kill %s out of order", ttl, tm.Renew(), tm.Fence(), tm.KillDeadline())
		}
		if !(tm.KillDeadline() < tm.Watchdog() && tm.Watchdog() < ttl) {
			t.Errorf("ttl %s: the watchdog at %s must come after the agent's kill at %s and before the lease ends", ttl, tm.Watchdog(), tm.KillDeadline())
		}
		if tm.ManagerFence() >= ttl-tm.Renew() {
			t.Errorf("ttl %s: the unit manager fences at %s, the lease may expire %s after fleetd's death", ttl, tm.ManagerFence(), ttl-tm.Renew())
		}
		if h := tm.DeadLeaderHold(); h < tm.Watchdog() || h < tm.RaftElection()+tm.KillDeadline() {
			t.Errorf("ttl %s: dead leader hold %s ends before a unit's kill", ttl, h)
		}
		if tm.Fence()-tm.RestoreMargin() <= 0 {
			t.Errorf("ttl %s: restore margin %s leaves no time to restore", ttl, tm.RestoreMargin())
		}
	}
}

// TestRaftElection: at the default TTL, a dead raft leader is replaced
// (one to two election timeouts) before a healthy machine's renewal could
// reach its fence, and the member timings keep etcd's 1:10 ratio.
func TestRaftElection(t *testing.T) {
	tm := Of(Default)
	if 2*tm.RaftElection() >= tm.Fence()-tm.Renew() {
		t.Errorf("a raft election of up to %s leaves no renewal in time before the fence at %s", 2*tm.RaftElection(), tm.Fence())
	}
	for _, ttl := range []time.Duration{time.Second, 2 * time.Second, Default} {
		tm := Of(ttl)
		if tm.RaftElection() < 500*time.Millisecond || tm.RaftElection() != 10*tm.RaftHeartbeat() {
			t.Errorf("ttl %s: election %s, heartbeat %s", ttl, tm.RaftElection(), tm.RaftHeartbeat())
		}
	}
}
