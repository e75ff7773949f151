package clustertest

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// startSleepers starts n plain units named prefix-i and waits until all run.
func startSleepers(t *testing.T, c *Cluster, prefix string, n int) {
	t.Helper()
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s-%d.service", prefix, i)
		c.WriteUnit(name, "[Service]\nExecStart=/bin/sleep 1000\n")
		names = append(names, name)
	}
	c.MustFleetctl(append([]string{"start", "--no-block"}, names...)...)
	if err := WaitActive(c, names, 60*time.Second); err != nil {
		t.Fatal(err)
	}
}

// WaitActive waits until each unit is active on exactly one live machine.
func WaitActive(c *Cluster, units []string, timeout time.Duration) error {
	return testutil.Eventually(timeout, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, u := range units {
			if on := ActiveOn(st, u); len(on) != 1 {
				return fmt.Errorf("%s active on %v", u, on)
			}
		}
		return nil
	})
}

func nodeOf(c *Cluster, machine string) *Node {
	for _, n := range c.Nodes {
		if n.MachineID() == machine {
			return n
		}
	}
	return nil
}

// TestFailover: SIGKILL of a node moves its units; its unit processes die
// with it; the node restarts with its data and rejoins.
func TestFailover(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	c.StartAll()
	startSleepers(t, c, "fo", 6)
	st, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	victimID := ActiveOn(st, "fo-0.service")[0]
	victim := nodeOf(c, victimID)
	procs := Descendants(victim.PID())
	if len(procs) == 0 {
		t.Fatalf("no unit processes found under %s's fleetd (pid %d)", victim.Name, victim.PID())
	}
	killed := time.Now()
	c.Kill(victim)

	if err := testutil.Eventually(3*time.Second, func() error {
		if a := Alive(procs); len(a) > 0 {
			return fmt.Errorf("processes %v of the killed fleetd still run", a)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	var names []string
	for i := range 6 {
		names = append(names, fmt.Sprintf("fo-%d.service", i))
	}
	if err := testutil.Eventually(30*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, u := range names {
			on := ActiveOn(st, u)
			if len(on) != 1 || on[0] == victimID {
				return fmt.Errorf("%s active on %v", u, on)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("all units of the killed node ran elsewhere %s after SIGKILL", time.Since(killed).Round(time.Millisecond))

	c.Start(victim)
	c.WaitMachines(3, 60*time.Second)
}

// TestLeaderHandover: SIGKILL of the engine leader hands the engine to
// another node within one TTL, which then places new units.
func TestLeaderHandover(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	c.StartAll()
	cli, err := c.EtcdClient(c.Nodes[0])
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	leader := func() (string, error) {
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
	var first string
	if err := testutil.Eventually(20*time.Second, func() error { first, err = leader(); return err }); err != nil {
		t.Fatal(err)
	}
	victim := nodeOf(c, first)
	if victim == c.Nodes[0] { // keep our etcd client's member alive
		cli.SetEndpoints(c.EtcdURL(c.Nodes[1]))
	}
	killed := time.Now()
	c.Kill(victim)
	var next string
	if err := testutil.Eventually(8*time.Second, func() error {
		l, err := leader()
		if err != nil {
			return err
		}
		if l == first {
			return fmt.Errorf("leader is still the killed %s", first)
		}
		next = l
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(killed)
	t.Logf("engine leadership moved from %s to %s in %s", first[:8], next[:8], took.Round(time.Millisecond))
	if took > 5*time.Second+time.Second { // one TTL, plus our polling and etcd's lease check
		t.Errorf("handover took %s, want within one TTL (5s)", took)
	}
	startSleepers(t, c, "after-handover", 2)
}
