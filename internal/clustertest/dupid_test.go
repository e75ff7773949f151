package clustertest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestDuplicateMachineID (issue 16): a node started with a copy of another
// node's machine-id (a cloned data directory) must not join. Before, the
// two merged into one machine and both ran its units. fleetd now exits with
// an error naming both machines, and the first keeps its registration and
// its unit.
func TestDuplicateMachineID(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 1, 1)
	c.allocate()
	first, clone := c.Nodes[0], c.Nodes[1]
	c.Start(first)
	c.WaitMachines(1, 60*time.Second)
	c.WriteUnit("solo.service", "[Service]\nExecStart=/bin/sleep 100000\n")
	c.MustFleetctl("start", "solo.service")
	pid := unitPID(t, c, "solo.service")

	must(t, os.MkdirAll(clone.DataDir, 0o700))
	id := first.MachineID()
	must(t, os.WriteFile(filepath.Join(clone.DataDir, "machine-id"), []byte(id+"\n"), 0o444))
	began := time.Now()
	c.Start(clone)

	// fleetd refuses within the TTL (5 s) and a retry of the check, plus start-up.
	if err := testutil.Eventually(45*time.Second, func() error {
		if len(Alive([]int{clone.PID()})) > 0 {
			return errors.New("the clone is still running")
		}
		return nil
	}); err != nil {
		t.Fatalf("%v; its log:\n%s", err, tailLog(c, clone))
	}
	t.Logf("the clone exited %v after it started", time.Since(began).Round(100*time.Millisecond))
	log := tailLog(c, clone)
	for _, want := range []string{"machine ID " + id + " is already used by", `name "n1"`, `this machine is name "n2"`, "delete " + filepath.Join(clone.DataDir, "machine-id")} {
		if !strings.Contains(log, want) {
			t.Errorf("the clone's log does not say %q:\n%s", want, log)
		}
	}

	// The first machine is still the only one, registered (its lease was
	// not revoked by the clone on its way out) and running its unit.
	time.Sleep(6 * time.Second) // past a TTL: a revoked or stolen record would show
	ms := c.WaitMachines(1, 10*time.Second)
	if len(ms) != 1 || ms[0].Name != "n1" {
		t.Fatalf("machines after the clone left: %+v", ms)
	}
	if got := unitPID(t, c, "solo.service"); got != pid {
		t.Errorf("solo.service: pid %d before the clone, %d after", pid, got)
	}
	if len(Alive([]int{first.PID()})) == 0 {
		t.Errorf("the first node exited; its log:\n%s", tailLog(c, first))
	}
}
