package clustertest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// drainKeys lists the registry's cordon and drain keys.
func drainKeys(t *testing.T, cli *clientv3.Client) []string {
	t.Helper()
	var keys []string
	for _, dir := range []string{"cordon/", "drain/"} {
		resp, err := cli.Get(context.Background(), registry.Prefix+dir, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range resp.Kvs {
			keys = append(keys, string(kv.Key))
		}
	}
	return keys
}

// TestDrain: a drain moves a node's ten units elsewhere; units that may run
// twice never stop (gap measured by polling the API), the one that may not
// is down for about its stop and start; cordons hold against new submits
// and uncordon releases them; an unknown machine is refused, nothing
// changed.
func TestDrain(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	c.StartAll()
	c.WaitMachines(3, 60*time.Second)
	victim := c.Nodes[2]
	vid := victim.MachineID()
	units := map[string]string{}
	for i := range 9 {
		units[fmt.Sprintf("dr-%d.service", i)] = "[Service]\nExecStart=/bin/sleep 1000\n"
	}
	// One at a time: its Conflicts matches its own name, so it stops first.
	units["solo@1.service"] = "[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nConflicts=solo@*.service\n"
	names := FillOne(t, c, victim, units)

	cli, err := c.EtcdClient(c.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	before := drainKeys(t, cli)
	if _, errOut, err := c.Fleetctl("drain", "nosuchmachine"); err == nil || !strings.Contains(errOut, "machine nosuchmachine is not in the cluster") {
		t.Errorf("drain of an unknown machine: err %v, stderr %q", err, errOut)
	}
	if after := drainKeys(t, cli); !slices.Equal(before, after) {
		t.Errorf("a refused drain changed the registry: %v -> %v", before, after)
	}

	gaps := WatchGaps(c, names, 20*time.Millisecond)
	start := time.Now()
	out := c.MustFleetctl("drain", "--timeout", "60s", vid)
	took := time.Since(start)
	if err := Drained(c, names, []string{vid}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	got, polls := gaps.Stop()
	t.Logf("drain of 10 units took %s (%d polls); fleetctl said:\n%s", took.Round(time.Millisecond), polls, out)
	for _, u := range names {
		bound := 250 * time.Millisecond // both copies overlap: a gap is a bug, or one poll's jitter
		if strings.HasPrefix(u, "solo@") {
			bound = 5 * time.Second // stop, then start elsewhere
		}
		t.Logf("%s: longest gap %s", u, got[u].Round(time.Millisecond))
		if got[u] > bound {
			t.Errorf("%s was down for %s, want at most %s", u, got[u], bound)
		}
	}
	if polls < 5 {
		t.Errorf("only %d polls of the states: gaps not measured", polls)
	}
	if ls := c.MustFleetctl("list-machines", "--full", "--no-legend", "--fields", "machine,state"); !strings.Contains(ls, vid+"\tdrained") {
		t.Errorf("list-machines does not show %s drained:\n%s", vid, ls)
	}

	// The drain outlasts the node's restart: the mark is not on its lease.
	c.Stop(victim)
	c.Start(victim)
	c.WaitMachines(3, 60*time.Second)
	if ls := c.MustFleetctl("list-machines", "--full", "--no-legend", "--fields", "machine,state"); !strings.Contains(ls, vid+"\tdrained") {
		t.Errorf("after its restart, list-machines does not show %s drained:\n%s", vid, ls)
	}

	// The drained node stays cordoned: with the others cordoned too, a new
	// unit is unplaced and says why; uncordoning the drained node releases it.
	for _, n := range c.Nodes[:2] {
		c.MustFleetctl("cordon", n.MachineID())
	}
	c.WriteUnit("late.service", "[Service]\nExecStart=/bin/sleep 1000\n")
	c.MustFleetctl("start", "--no-block", "late.service")
	if err := testutil.Eventually(10*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, s := range st["late.service"] {
			if strings.Contains(s.Reason, "cordoned") {
				return nil
			}
		}
		return fmt.Errorf("late.service states %v: no reason naming the cordon", st["late.service"])
	}); err != nil {
		t.Error(err)
	}
	c.MustFleetctl("uncordon", vid)
	if err := Drained(c, []string{"late.service"}, nil, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if on := ActiveOn(mustStates(t, c), "late.service"); len(on) != 1 || on[0] != vid {
		t.Errorf("late.service on %v, want the uncordoned %s", on, vid)
	}

	// A move request (rebalance's primitive) brings a unit back to the
	// uncordoned node, with no gap, and is cleared once done.
	for _, n := range c.Nodes[:2] {
		c.MustFleetctl("uncordon", n.MachineID())
	}
	from := ActiveOn(mustStates(t, c), "dr-0.service")[0]
	reg := registry.New(cli)
	gaps = WatchGaps(c, []string{"dr-0.service"}, 20*time.Millisecond)
	if err := reg.RequestMove(context.Background(), registry.MoveRecord{Unit: "dr-0.service", From: from, To: vid}); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Eventually(20*time.Second, func() error {
		on := ActiveOn(mustStates(t, c), "dr-0.service")
		if len(on) != 1 || on[0] != vid {
			return fmt.Errorf("dr-0.service active on %v, want only %s", on, vid)
		}
		moves, err := reg.Moves(context.Background())
		if err != nil {
			return err
		}
		if len(moves) != 0 {
			return fmt.Errorf("move request still there: %+v", moves["dr-0.service"])
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := gaps.Stop(); got["dr-0.service"] > 250*time.Millisecond {
		t.Errorf("dr-0.service was down %s while moved", got["dr-0.service"])
	}
}

func mustStates(t *testing.T, c *Cluster) map[string][]*schema.UnitState {
	t.Helper()
	st, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// engineLeader reads the engine leader's machine ID.
func engineLeader(cli *clientv3.Client) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, registry.ElectionPrefix, clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) == 0 {
		return "", fmt.Errorf("no engine leader yet (%v)", err)
	}
	kvs := resp.Kvs
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].CreateRevision < kvs[j].CreateRevision })
	return string(kvs[0].Value), nil
}

// TestDrainLeaderDies: the engine leader is SIGKILLed while a drain waits
// for slow-starting new copies; the next leader finishes the drain, and no
// unit is ever down (the old copies run until the new ones do, wherever
// the new ones end up after the leader's machine went too).
func TestDrainLeaderDies(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 1)
	c.StartAll()
	c.WaitMachines(4, 60*time.Second)
	cli, err := c.EtcdClient(c.Nodes[0], c.Nodes[1], c.Nodes[2])
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var leader string
	if err := testutil.Eventually(20*time.Second, func() error { leader, err = engineLeader(cli); return err }); err != nil {
		t.Fatal(err)
	}
	var victim *Node
	for _, n := range c.Nodes {
		if n.MachineID() != leader && n.Member {
			victim = n
			break
		}
	}
	units := map[string]string{}
	for i := range 10 {
		// Each new copy takes 3 s to become active: the drain is still
		// handing off when the leader dies.
		units[fmt.Sprintf("slow-%d.service", i)] = "[Service]\nExecStartPre=/bin/sleep 3\nExecStart=/bin/sleep 1000\n"
	}
	names := FillOne(t, c, victim, units)
	gaps := WatchGaps(c, names, 20*time.Millisecond)
	c.MustFleetctl("drain", "--no-block", victim.MachineID())
	time.Sleep(time.Second)
	if d, err := c.Client().DrainStatus(context.Background(), victim.MachineID()); err != nil || d.State != registry.MachineDraining || len(d.Left) == 0 {
		t.Fatalf("before the kill the drain should be under way: %+v, %v", d, err)
	}
	killed := nodeOf(c, leader)
	c.Kill(killed)
	killedAt := time.Now()
	if err := Drained(c, names, []string{victim.MachineID(), leader}, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("drain finished %s after the leader %s was killed", time.Since(killedAt).Round(time.Millisecond), leader)
	if err := testutil.Eventually(10*time.Second, func() error {
		d, err := c.Client().DrainStatus(context.Background(), victim.MachineID())
		if err != nil {
			return err
		}
		if d.State != registry.MachineDrained {
			return fmt.Errorf("victim is %s, left %v", d.State, d.Left)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	got, polls := gaps.Stop()
	name, longest := Longest(got)
	t.Logf("longest gap %s (%s) over %d polls", longest.Round(time.Millisecond), name, polls)
	if longest > 250*time.Millisecond {
		t.Errorf("%s was down for %s during the drain, want no gap", name, longest)
	}
}
