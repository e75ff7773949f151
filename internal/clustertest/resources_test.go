package clustertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/api/schema"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestClusterPlacementByResources: three machines of different sizes
// (--capacity-memory 2G, 4G, 8G) take six units reserving 2 GiB each
// without any machine holding more than its capacity; a seventh reserving 3
// GiB fits nowhere and list-units says why; a unit larger than every
// machine is refused at submit and not stored.
func TestClusterPlacementByResources(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	sizes := map[string]int64{"n1": 2, "n2": 4, "n3": 8} // GiB
	for _, n := range c.Nodes {
		n.Extra = append(n.Extra, "--capacity-memory", fmt.Sprintf("%dG", sizes[n.Name]), "--capacity-cpus", "2")
	}
	c.StartAll()
	gibOn := map[string]int64{}
	for _, n := range c.Nodes {
		gibOn[n.MachineID()] = sizes[n.Name]
	}
	out := c.MustFleetctl("list-machines", "--full", "--no-legend", "--fields", "machine,cpus,memory")
	for _, n := range c.Nodes {
		if want := fmt.Sprintf("%s\t2\t%d GiB", n.MachineID(), sizes[n.Name]); !strings.Contains(out, want) {
			t.Errorf("list-machines does not show %q:\n%s", want, out)
		}
	}

	sleep := "[Service]\nExecStart=/bin/sleep 1000\n"
	c.WriteUnit("db@.service", sleep+"[X-Fleet]\nReserveMemory=2G\n")
	c.WriteUnit("big.service", sleep+"[X-Fleet]\nReserveMemory=3G\n")
	c.WriteUnit("huge.service", sleep+"[X-Fleet]\nReserveMemory=16G\n")
	c.MustFleetctl("submit", "db@.service")
	var dbs []string
	for i := 1; i <= 6; i++ {
		dbs = append(dbs, fmt.Sprintf("db@%d.service", i))
	}
	c.MustFleetctl(append([]string{"start", "--no-block"}, dbs...)...)
	// The engine places by name what it sees at once: big.service would
	// come before db@6.service. Let the six take their room first.
	check := func() error {
		states, err := c.States()
		if err != nil {
			return err
		}
		used := map[string]int64{}
		for _, u := range dbs {
			on := ActiveOn(states, u)
			if len(on) != 1 {
				return fmt.Errorf("%s active on %v, want one machine", u, on)
			}
			used[on[0]] += 2
		}
		for m, gib := range used {
			if gib > gibOn[m] {
				t.Fatalf("machine %s (%d GiB) holds %d GiB of reservations", m, gibOn[m], gib)
			}
		}
		if on := ActiveOn(states, "big.service"); len(on) > 0 {
			t.Fatalf("big.service runs on %v, where 3 GiB cannot be free", on)
		}
		return nil
	}
	if err := testutil.Eventually(60*time.Second, check); err != nil {
		t.Fatal(err)
	}
	c.MustFleetctl("start", "--no-block", "big.service")
	time.Sleep(time.Second) // the engine's turn
	if err := testutil.Eventually(30*time.Second, check); err != nil {
		t.Fatal(err)
	}
	err := testutil.Eventually(30*time.Second, func() error {
		out, _, err := c.Fleetctl("list-units", "--no-legend", "--fields", "unit,machine,reason")
		if err != nil {
			return err
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "big.service") {
				if !strings.Contains(line, "no machine has 3 GiB memory free; largest free 2 GiB on ") {
					return fmt.Errorf("big.service's line does not say what is missing: %q", line)
				}
				return nil
			}
		}
		return fmt.Errorf("big.service not listed:\n%s", out)
	})
	if err != nil {
		t.Fatal(err)
	}

	// fleetctl status shows it too (the API's unit state carries it).
	if out, stderr, _ := c.Fleetctl("status", "big.service"); !strings.Contains(out+stderr, "no machine has 3 GiB memory free; largest free 2 GiB on ") {
		t.Errorf("status big.service does not say what is missing:\n%s%s", out, stderr)
	}

	_, stderr, err := c.Fleetctl("start", "--no-block", "huge.service")
	if err == nil || !strings.Contains(stderr, "[X-Fleet] ReserveMemory: reserves 16 GiB memory, more than any machine") {
		t.Errorf("start huge.service: err %v, stderr %q; want a refusal naming ReserveMemory", err, stderr)
	}
	if out := c.MustFleetctl("list-unit-files", "--no-legend"); strings.Contains(out, "huge.service") {
		t.Errorf("refused huge.service was stored:\n%s", out)
	}
}

// TestClusterRebalance: after a machine restarts, its units have moved
// away and it runs nothing; fleetctl rebalance --dry-run plans moves onto
// it, one at a time, that leave no gap of two units or more, and changes
// nothing; fleetctl rebalance makes them.
func TestClusterRebalance(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	c.StartAll()
	sleep := "[Service]\nExecStart=/bin/sleep 1000\n"
	c.WriteUnit("app@.service", sleep)
	c.MustFleetctl("submit", "app@.service")
	var apps []string
	for i := 1; i <= 6; i++ {
		apps = append(apps, fmt.Sprintf("app@%d.service", i))
	}
	c.MustFleetctl(append([]string{"start", "--no-block"}, apps...)...)
	n3 := c.Nodes[2]
	id3 := n3.MachineID()
	activeCount := func(states map[string][]*schema.UnitState) map[string]int {
		count := map[string]int{}
		for _, u := range apps {
			for _, m := range ActiveOn(states, u) {
				count[m]++
			}
		}
		return count
	}
	waitCount := func(want func(map[string]int) error) map[string]int {
		t.Helper()
		var count map[string]int
		err := testutil.Eventually(60*time.Second, func() error {
			states, err := c.States()
			if err != nil {
				return err
			}
			count = activeCount(states)
			return want(count)
		})
		if err != nil {
			t.Fatal(err)
		}
		return count
	}
	waitCount(func(m map[string]int) error {
		if m[id3] == 0 || m[id3]+m[c.Nodes[0].MachineID()]+m[c.Nodes[1].MachineID()] != 6 {
			return fmt.Errorf("want six apps active, some on n3: %v", m)
		}
		return nil
	})
	c.Stop(n3)
	waitCount(func(m map[string]int) error {
		if m[c.Nodes[0].MachineID()]+m[c.Nodes[1].MachineID()] != 6 {
			return fmt.Errorf("want six apps active on n1 and n2: %v", m)
		}
		return nil
	})
	c.Start(n3)
	c.WaitMachines(3, 60*time.Second)

	out := c.MustFleetctl("rebalance", "--dry-run", "--full")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "UNIT") {
		t.Fatalf("rebalance --dry-run: want a header and two moves (3+3+0 → 2+2+2):\n%s", out)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != 3 || !strings.HasPrefix(f[0], "app@") || f[2] != id3 || f[1] == id3 {
			t.Errorf("move %q: want an app moving onto n3 %s", l, id3)
		}
	}
	// A dry run changes nothing: n3 still runs no app.
	time.Sleep(2 * time.Second)
	states, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	if m := activeCount(states); m[id3] != 0 {
		t.Errorf("after a dry run, n3 runs %d apps", m[id3])
	}

	// The real one makes those moves, one at a time: 2+2+2, each app once.
	out = c.MustFleetctl("rebalance")
	if n := strings.Count(out, "Moved app@"); n != 2 {
		t.Errorf("rebalance: want two moves made:\n%s", out)
	}
	waitCount(func(m map[string]int) error {
		for _, n := range c.Nodes {
			if m[n.MachineID()] != 2 {
				return fmt.Errorf("want two apps on each machine: %v", m)
			}
		}
		return nil
	})
	states, err = c.States()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range apps {
		if on := ActiveOn(states, u); len(on) != 1 {
			t.Errorf("%s active on %v after the rebalance, want one machine", u, on)
		}
	}
	if out := c.MustFleetctl("rebalance", "--dry-run"); !strings.Contains(out, "balanced") {
		t.Errorf("after the rebalance, a dry run still plans moves:\n%s", out)
	}
}
