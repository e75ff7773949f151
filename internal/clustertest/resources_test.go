package clustertest

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
	c.MustFleetctl("start", "--no-block", "big.service")

	err := testutil.Eventually(60*time.Second, func() error {
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
	})
	if err != nil {
		t.Fatal(err)
	}
	err = testutil.Eventually(30*time.Second, func() error {
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

	_, stderr, err := c.Fleetctl("start", "--no-block", "huge.service")
	if err == nil || !strings.Contains(stderr, "[X-Fleet] ReserveMemory: reserves 16 GiB memory, more than any machine") {
		t.Errorf("start huge.service: err %v, stderr %q; want a refusal naming ReserveMemory", err, stderr)
	}
	if out := c.MustFleetctl("list-unit-files", "--no-legend"); strings.Contains(out, "huge.service") {
		t.Errorf("refused huge.service was stored:\n%s", out)
	}
}
