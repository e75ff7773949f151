package remote_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestFleetdRestartKeepsUnits runs the real fleetd against a unit manager
// hosted by another process (as init hosts it): a unit submitted through
// the API survives fleetd's SIGKILL, and a fleetd restarted at once finds
// it still active with the same PID, well past the host's FenceAfter.
func TestFleetdRestartKeepsUnits(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedSlow(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "units.sock")
	const fenceAfter = 3 * time.Second
	startHost(t, sock, filepath.Join(dir, "data"), fenceAfter)

	c := clustertest.New(t, 1, 0)
	n := c.Nodes[0]
	n.Extra = []string{"--unit-manager", "unix:" + sock}
	c.StartAll()
	const name = "e2e.service"
	c.WriteUnit(name, sleeper)
	c.MustFleetctl("start", "--no-block", name)
	var pid int
	if err := testutil.Eventually(60*time.Second, func() error {
		if pid = statePID(t, c, name); pid == 0 {
			return fmt.Errorf("%s not active yet", name)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(clustertest.Descendants(n.PID()), pid) {
		t.Fatalf("unit pid %d runs under fleetd (pid %d), not under the host", pid, n.PID())
	}

	killed := time.Now()
	c.Kill(n)
	if !alive(pid) {
		t.Fatal("the unit died with fleetd")
	}
	c.Start(n)
	c.WaitMachines(1, 30*time.Second)
	t.Logf("fleetd back %s after its SIGKILL", time.Since(killed).Round(time.Millisecond))
	time.Sleep(time.Until(killed.Add(2 * fenceAfter)))
	if !alive(pid) {
		t.Fatalf("unit pid %d gone after fleetd's restart", pid)
	}
	if err := testutil.Eventually(10*time.Second, func() error {
		if got := statePID(t, c, name); got != pid {
			return fmt.Errorf("%s reports pid %d, want %d", name, got, pid)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.MustFleetctl("stop", "--no-block", name)
	waitGone(t, pid, 20*time.Second)
}

// statePID is the PID the cluster reports for an active unit (0 if none).
func statePID(t *testing.T, c *clustertest.Cluster, name string) int {
	t.Helper()
	st, err := c.States()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st[name] {
		if s.SystemdActiveState == "active" {
			return s.PID
		}
	}
	return 0
}
