package clustertest

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestSIGHUPKeepsNode (issue 16): fleet reloads its configuration on
// SIGHUP; fleetd has nothing to reload, and must not stop the node. Before,
// Go's default for SIGHUP ended fleetd (status 2) and its units with it.
// The signal goes to the outer lifeline process, as a user's kill -HUP
// would, which forwards it.
func TestSIGHUPKeepsNode(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedRoot(t)
	c := New(t, 1, 0)
	c.StartAll()
	n := c.Nodes[0]
	c.WriteUnit("hup.service", "[Service]\nExecStart=/bin/sleep 100000\n")
	c.MustFleetctl("start", "hup.service")
	pid := unitPID(t, c, "hup.service")
	for range 2 {
		must(t, syscall.Kill(n.PID(), syscall.SIGHUP))
		time.Sleep(time.Second)
	}
	if len(Alive([]int{n.PID()})) == 0 {
		t.Fatalf("fleetd exited on SIGHUP; its log:\n%s", tailLog(c, n))
	}
	if got := unitPID(t, c, "hup.service"); got != pid {
		t.Errorf("hup.service: pid %d before SIGHUP, %d after: it was restarted", pid, got)
	}
	if log := tailLog(c, n); !strings.Contains(log, "SIGHUP: nothing to reload") {
		t.Errorf("fleetd's log doesn't say what it did with SIGHUP:\n%s", log)
	}
}
