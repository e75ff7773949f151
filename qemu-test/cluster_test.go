package qemutest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/vmcluster"
)

// unitRow is one line of list-units --no-legend --full --fields unit,machine,active.
type unitRow struct{ unit, machine, active string }

func listUnits(t *testing.T, out string, n *node) (map[string]unitRow, error) {
	o, err := fleetctl(t, out, n, "list-units", "--no-legend", "--full", "--fields", "unit,machine,active")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, o)
	}
	rows := map[string]unitRow{}
	for _, line := range strings.Split(strings.TrimSpace(o), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			rows[f[0]] = unitRow{f[0], f[1], f[2]}
		}
	}
	return rows, nil
}

// machineOf strips fleet's "id/ip" MACHINE column to the id.
func machineOf(r unitRow) string { return strings.SplitN(r.machine, "/", 2)[0] }

// TestThreeNodes boots three VMs, each with its own disk, on a bridge inside
// a network namespace made here. They form a three-member etcd cluster over
// mutual TLS; units with Conflicts spread over the three; SIGKILL of one
// QEMU moves its other units to the other two, and the time it took is
// printed.
func TestThreeNodes(t *testing.T) {
	needVM(t)
	testenv.NeedRoot(t)
	res, out := image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	opts := vmOptions(t, res, out, os.Getenv("FLOTILLA_QEMU_KERNEL") == "")
	c, err := vmcluster.BootCluster(ctx, opts, fmt.Sprintf("flt-qemu-%d", os.Getpid()%10000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	nodes := c.Nodes
	for _, n := range nodes {
		waitReady(t, ctx, n)
	}
	eventually(t, 120*time.Second, "three machines", func() error {
		o, err := fleetctl(t, out, nodes[0], "list-machines", "--no-legend", "--full")
		if err != nil {
			return fmt.Errorf("%v: %s", err, o)
		}
		if n := len(strings.Split(strings.TrimSpace(o), "\n")); n != 3 {
			return fmt.Errorf("%d machines:\n%s", n, o)
		}
		return nil
	})

	dir := t.TempDir()
	var files []string
	for i := 1; i <= 3; i++ {
		files = append(files, writeUnit(t, dir, fmt.Sprintf("spread@%d.service", i),
			"[Service]\nExecStart=/usr/bin/fleetctl --version\nType=oneshot\nRemainAfterExit=yes\n\n[X-Fleet]\nConflicts=spread@*\n"))
	}
	for i := 1; i <= 6; i++ {
		files = append(files, writeUnit(t, dir, fmt.Sprintf("mover@%d.service", i),
			"[Service]\nExecStart=/usr/bin/fleetctl --version\nType=oneshot\nRemainAfterExit=yes\n"))
	}
	if o, err := fleetctl(t, out, nodes[0], append([]string{"start", "--no-block"}, files...)...); err != nil {
		t.Fatalf("fleetctl start: %v\n%s", err, o)
	}
	var rows map[string]unitRow
	eventually(t, 120*time.Second, "nine units active", func() error {
		rows, err = listUnits(t, out, nodes[0])
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.active != "active" {
				return fmt.Errorf("%s is %s", r.unit, r.active)
			}
		}
		if len(rows) != 9 {
			return fmt.Errorf("%d units listed", len(rows))
		}
		return nil
	})
	spreadOn := map[string]string{}
	for i := 1; i <= 3; i++ {
		u := fmt.Sprintf("spread@%d.service", i)
		m := machineOf(rows[u])
		if other, dup := spreadOn[m]; dup {
			t.Fatalf("Conflicts=spread@* broken: %s and %s both on %s", other, u, m)
		}
		spreadOn[m] = u
	}

	// The victim is node-3: find its machine ID through its own API.
	// Its etcd role says which failover this is: a dead raft leader
	// takes longer (README, "What doesn't yet").
	o, err := fleetctl(t, out, nodes[2], "list-machines", "--no-legend", "--full", "--fields", "machine,metadata,etcd")
	if err != nil {
		t.Fatalf("list-machines: %v\n%s", err, o)
	}
	var victim, victimRole string
	for _, line := range strings.Split(o, "\n") {
		if f := strings.Fields(line); len(f) == 3 && strings.Contains(f[1], "node=3") {
			victim, victimRole = f[0], f[2]
		}
	}
	if victim == "" {
		t.Fatalf("no machine with metadata node=3:\n%s", o)
	}
	var moved []string
	for u, r := range rows {
		if machineOf(r) == victim && strings.HasPrefix(u, "mover@") {
			moved = append(moved, u)
		}
	}
	t.Logf("killing node-3 (%s), which runs %v and %s", victim, moved, spreadOn[victim])
	killed := time.Now()
	nodes[2].VM.Kill()
	eventuallyEvery(t, 100*time.Millisecond, 60*time.Second, "movers running elsewhere", func() error {
		rows, err = listUnits(t, out, nodes[0])
		if err != nil {
			return err
		}
		for u, r := range rows {
			if strings.HasPrefix(u, "mover@") && (r.active != "active" || machineOf(r) == victim) {
				return fmt.Errorf("%s: %s on %s", u, r.active, r.machine)
			}
		}
		return nil
	})
	failover := time.Since(killed)
	fmt.Printf("qemu-test: failover of a killed VM (%d units moved, etcd %s): %.1f s\n", len(moved), victimRole, failover.Seconds())
	t.Logf("failover of a killed VM (%d units moved, etcd %s): %.1f s", len(moved), victimRole, failover.Seconds())
	if r := rows[spreadOn[victim]]; r.active == "active" {
		t.Errorf("%s runs on %s although Conflicts forbids every remaining machine", r.unit, r.machine)
	}
}
