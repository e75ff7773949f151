package clustertest

import (
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
)

// TestStartEndsOnFailure (issue 14): `fleetctl start` of template instances
// whose ExecStart does not exist ends within seconds with a non-zero exit
// naming each unit and the reason, instead of waiting for them to be active.
func TestStartEndsOnFailure(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 0)
	c.StartAll()
	c.WaitMachines(3, 60*time.Second)
	c.WriteUnit("bad@.service", "[Service]\nExecStart=/nonexistent/sh -c 'sleep 1000'\n[X-Fleet]\nConflicts=bad@*.service\n")
	begin := time.Now()
	out, errOut, err := c.Fleetctl("start", "bad@1.service", "bad@2.service", "bad@3.service")
	took := time.Since(begin)
	t.Logf("fleetctl start took %v\nstdout: %s\nstderr: %s", took, out, errOut)
	if err == nil {
		t.Fatalf("start of units that cannot run exited 0")
	}
	for _, n := range []string{"bad@1.service", "bad@2.service", "bad@3.service"} {
		if !strings.Contains(errOut, "unit "+n+" failed on ") {
			t.Errorf("stderr does not name %s as failed", n)
		}
	}
	if !strings.Contains(errOut, "/nonexistent/sh") {
		t.Errorf("stderr does not give the reason (the missing executable)")
	}
	if took > 15*time.Second {
		t.Errorf("start took %v to report the failure, want a few seconds", took)
	}
}
