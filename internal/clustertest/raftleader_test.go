package clustertest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestRaftLeaderFailover (issue 18, point 6) measures the failover time
// when the node SIGKILLed is etcd's raft leader: from the kill until all
// of its units run elsewhere, the median of five fresh clusters. The new
// raft leader extends every lease, the dead machine's too; the survivors
// see the old leader's peer port refuse, revoke its machine's lease at the
// election, and move its units 4.65 s later (engine.MachineDied). It
// fails when the median is over 6 s (it was 7.3 s with the lease left to
// expire and etcd's default 1 s election timeout).
func TestRaftLeaderFailover(t *testing.T) {
	testenv.NeedSlow(t)
	const rounds, bound = 5, 6 * time.Second
	var took []time.Duration
	for r := range rounds {
		took = append(took, raftLeaderFailover(t, r))
	}
	slices.Sort(took)
	t.Logf("raft leader failover over %d kills: median %s, min %s, max %s", rounds,
		took[rounds/2].Round(time.Millisecond), took[0].Round(time.Millisecond), took[rounds-1].Round(time.Millisecond))
	if took[rounds/2] > bound {
		t.Errorf("median raft leader failover %s, want at most %s", took[rounds/2].Round(time.Millisecond), bound)
	}
}

func raftLeaderFailover(t *testing.T, round int) time.Duration {
	c := New(t, 3, 0)
	c.StartAll()
	defer c.KillAll()
	var leader string
	if err := testutil.Eventually(20*time.Second, func() error {
		roles, err := etcdRoles(c)
		if err != nil {
			return err
		}
		leader, err = leaderOf(roles)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var victim, watcher *Node
	for _, n := range c.Nodes {
		if n.Name == leader {
			victim = n
		} else {
			watcher = n
		}
	}
	prefix := fmt.Sprintf("rl%d", round)
	var names []string
	for i := range 6 {
		names = append(names, fmt.Sprintf("%s-%d.service", prefix, i))
	}
	startSleepers(t, c, prefix, 6)
	killed := time.Now()
	c.Kill(victim)
	waitMovedOff(t, c, watcher, victim, names)
	d := time.Since(killed)
	t.Logf("round %d: raft leader %s killed, its units ran elsewhere after %s", round, victim.Name, d.Round(time.Millisecond))
	return d
}

// TestDeposedRaftLeaderNotFenced: raft leadership moving away from a live
// member (etcd's MoveLeader, as on a graceful stop or after a stall) is
// not a death: its port still accepts, so its machine keeps its lease and
// no fence mark is written.
func TestDeposedRaftLeaderNotFenced(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	c.StartAll()
	defer c.KillAll()
	var leader *Node
	if err := testutil.Eventually(20*time.Second, func() error {
		roles, err := etcdRoles(c)
		if err != nil {
			return err
		}
		name, err := leaderOf(roles)
		for _, n := range c.Nodes {
			if n.Name == name {
				leader = n
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	cli, err := c.EtcdClient(leader)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := registry.Prefix + "machines/" + leader.MachineID()
	before, err := cli.Get(ctx, key)
	if err != nil || len(before.Kvs) != 1 {
		t.Fatalf("machine record of %s: %v, %v", leader.Name, before, err)
	}
	members, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cli.Status(ctx, c.EtcdURL(leader))
	if err != nil {
		t.Fatal(err)
	}
	var to uint64
	for _, m := range members.Members {
		if m.ID != st.Header.MemberId {
			to = m.ID
		}
	}
	if _, err := cli.MoveLeader(ctx, to); err != nil {
		t.Fatal(err)
	}
	// Longer than the fence hold (4.65 s) and the TTL itself.
	time.Sleep(6 * time.Second)
	after, err := cli.Get(ctx, key)
	if err != nil || len(after.Kvs) != 1 {
		t.Fatalf("machine record of %s after losing raft leadership: %v, %v", leader.Name, after, err)
	}
	if after.Kvs[0].Lease != before.Kvs[0].Lease {
		t.Errorf("%s registered again (lease %x, was %x): its lease was revoked", leader.Name, after.Kvs[0].Lease, before.Kvs[0].Lease)
	}
	marks, err := cli.Get(ctx, registry.Prefix+"fenced/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || marks.Count != 0 {
		t.Errorf("fence marks after a leadership move: %v, %v", marks, err)
	}
}
