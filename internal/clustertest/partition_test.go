package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestPartitionFencing: a node inside a network namespace runs a unit;
// cutting its link makes it stop the unit before the unit starts on another
// machine; restoring the link lets the node rejoin. The isolated node is a
// client-only node, then an etcd member (whose watches fail with "no leader").
func TestPartitionFencing(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip")
	t.Run("client node", func(t *testing.T) { partition(t, false) })
	t.Run("member node", func(t *testing.T) { partition(t, true) })
}

func partition(t *testing.T, member bool) {
	ns := NewNetns(t)
	members, clients := 3, 1
	if member {
		members, clients = 4, 0
	}
	c := New(t, members, clients, "zone=c", "zone=a", "zone=a", "zone=b")
	c.EnableTLS(ns.HostIP, ns.NsIP) // off loopback the API requires mutual TLS
	for _, n := range c.Nodes[:3] {
		n.Host = ns.HostIP
	}
	iso := c.Nodes[3]
	iso.Netns, iso.Host = ns.Name, ns.NsIP
	c.StartAll()

	// beat.service may run on n1 or the isolated n4 (zone metadata); a unit
	// pinned to n1 makes n4 the least loaded, so beat starts there and can
	// only move to n1.
	c.WriteUnit("pin.service", "[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nMachineID="+c.Nodes[0].MachineID()+"\n")
	c.MustFleetctl("start", "pin.service")
	beats := filepath.Join(c.Dir, "beats")
	if err := os.MkdirAll(beats, 0o755); err != nil {
		t.Fatal(err)
	}
	// Each beat is written beside and renamed into place: the fence's
	// SIGKILL may land between a truncate and a write.
	c.WriteUnit("beat.service", fmt.Sprintf("[Service]\nExecStart=/bin/sh -c 'date +%%%%s%%%%N > %[1]s/%%m.start; while :; do date +%%%%s%%%%N > %[1]s/%%m.beat.new; mv %[1]s/%%m.beat.new %[1]s/%%m.beat; sleep 0.05; done'\n[X-Fleet]\nMachineMetadata=zone=b zone=c\n", beats))
	c.MustFleetctl("start", "beat.service")
	isoID := iso.MachineID()
	st, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	if on := ActiveOn(st, "beat.service"); len(on) != 1 || on[0] != isoID {
		t.Fatalf("beat.service active on %v, want the isolated node %s", on, isoID)
	}
	time.Sleep(300 * time.Millisecond)

	ns.Cut()
	cut := time.Now()
	t.Logf("cut at %s", cut.Format("15:04:05.000"))
	var movedTo string
	if err := testutil.Eventually(20*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, m := range ActiveOn(st, "beat.service") {
			if m != isoID {
				movedTo = m
				return nil
			}
		}
		return fmt.Errorf("beat.service not yet active elsewhere")
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("beat.service moved to %s %s after the cut", movedTo[:8], time.Since(cut).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	lastOld := readNanos(t, filepath.Join(beats, isoID+".beat"))
	startNew := readNanos(t, filepath.Join(beats, movedTo+".start"))
	if lastOld >= startNew {
		t.Fatalf("the isolated node's unit beat at %d, after the new one started at %d: it was not fenced", lastOld, startNew)
	}
	t.Logf("isolated copy stopped %s before the new copy started", time.Duration(startNew-lastOld))
	if early := cut.Sub(time.Unix(0, lastOld)); early > 300*time.Millisecond {
		t.Errorf("the isolated copy stopped %s before the cut: fenced without cause", early)
	}
	if fenced := time.Unix(0, lastOld).Sub(cut); fenced > 5*time.Second {
		t.Errorf("isolated copy kept running %s after the cut, longer than the TTL", fenced)
	}

	// Stay cut for 15 s, as the fault injector of issue 18 did: the
	// node's lease is gone and its etcd client has backed off for a while.
	time.Sleep(time.Until(cut.Add(15 * time.Second)))
	ns.Restore()
	healed := time.Now()
	c.WaitMachines(4, 30*time.Second)
	rejoin := time.Since(healed)
	t.Logf("isolated node listed again %s after the link healed", rejoin.Round(time.Millisecond))
	// A restarted node is listed in 0.1–0.3 s; a healed client node must
	// not wait on its etcd client's reconnect backoff (1.8 s measured, 3.3 s
	// with gRPC's default backoff). A healed member waits until the others'
	// raft traffic reaches its etcd again (11–13 s measured, see the
	// report of issue 18): bounded here only against getting worse.
	bound := 3 * time.Second
	if member {
		bound = 20 * time.Second
	}
	if rejoin > bound {
		t.Errorf("isolated node listed again only %s after the link healed, want within %s", rejoin.Round(time.Millisecond), bound)
	}

	// One row per unit: the isolated node, registered anew, reports no
	// inactive leftover of beat.service beside its row where it moved.
	// Its state writer may still be in its retry backoff (at most 5 s)
	// when the machine is listed: the rows are read after that.
	time.Sleep(6 * time.Second)
	if err := testutil.Eventually(10*time.Second, func() error {
		sts, err := c.Client().UnitStates(context.Background(), client.StateFilter{})
		if err != nil {
			return err
		}
		var rows []string
		for _, s := range sts {
			rows = append(rows, s.Name+"@"+s.MachineID[:min(8, len(s.MachineID))]+":"+s.SystemdActiveState)
		}
		if len(sts) != 2 {
			return fmt.Errorf("list-units has %d rows %v, want one per unit (2)", len(sts), rows)
		}
		if on := ActiveOn(groupStates(sts), "beat.service"); len(on) != 1 || on[0] != movedTo {
			return fmt.Errorf("rows %v, want beat.service active on %s alone", rows, movedTo[:8])
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

func readNanos(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n
}

func groupStates(sts []*schema.UnitState) map[string][]*schema.UnitState {
	out := map[string][]*schema.UnitState{}
	for _, s := range sts {
		out[s.Name] = append(out[s.Name], s)
	}
	return out
}
