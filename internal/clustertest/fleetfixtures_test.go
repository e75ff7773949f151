package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/client"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// fleetLoop is the ExecStart of fleet's functional fixture units: a bash
// loop echoing msg every second. The units below are our own copies of
// what coreos/fleet's functional/fixtures/units hold, submitted through the
// fleetctl binary the way functional/scheduling_test.go drives fleet.
func fleetLoop(msg string) string {
	return "[Service]\nExecStart=/bin/bash -c \"while true; do echo " + msg + "; sleep 1; done\"\n"
}

// TestFleetFixtures (issue 16): fleet's functional scheduling scenarios on a
// three-machine loopback cluster, each checked for the outcome fleet's test
// expects.
func TestFleetFixtures(t *testing.T) {
	testenv.NeedSlow(t)
	testenv.NeedCommand(t, "bash")
	c := New(t, 1, 2, "hostname=smoke0", "hostname=smoke1", "hostname=smoke2")
	c.StartAll()
	ids := map[string]string{} // node name -> machine ID
	for _, n := range c.Nodes {
		ids[n.Name] = n.MachineID()
	}

	// Fixtures, re-typed.
	for i := range 3 {
		c.WriteUnit(fmt.Sprintf("ping.%d.service", i), "[Unit]\nDescription=PING\n\n"+fleetLoop("ping"))
		c.WriteUnit(fmt.Sprintf("pong.%d.service", i), "[Unit]\nDescription=PONG\n\n"+fleetLoop("pong")+fmt.Sprintf("\n[X-Fleet]\nMachineOf=ping.%d.service\n", i))
	}
	for i := range 5 {
		c.WriteUnit(fmt.Sprintf("conflict.%d.service", i), "[Unit]\nDescription=Test Unit\n\n"+fleetLoop("Hello, World!")+"\n[X-Fleet]\nConflicts=conflict.*.service\n")
	}
	c.WriteUnit("hello.service", fleetLoop("Hello, World!"))
	c.WriteUnit("goodbye.service", fleetLoop("Goodbye, World!"))
	c.WriteUnit("global.service", fleetLoop("Hello, Global World!")+"\n[X-Fleet]\nGlobal=true\n")
	c.WriteUnit("conflict-global.1.service", "[Unit]\nDescription=Test Unit\n\n"+fleetLoop("Hello, World!")+"\n[X-Fleet]\nGlobal=true\nConflicts=conflict-global.*.service\n")
	c.WriteUnit("conflicts-with-hello.service", "[Unit]\nDescription=Test Unit\n\n"+fleetLoop("Hello, World!")+"\n[X-Fleet]\nX-Conflicts=hello.service\n")
	c.WriteUnit("pin@.service", fleetLoop("Hello, World!")+"\n[X-Fleet]\nMachineID=%i\n")
	c.WriteUnit("metadata@.service", fleetLoop("Hello, World %i!")+"\n[X-Fleet]\nMachineMetadata=hostname=%i\n")
	c.WriteUnit("hello@.service", fleetLoop("Hello, World %i!"))
	c.WriteUnit("replace.0.service", "[Unit]\nDescription=Test Unit\n\n"+fleetLoop("Hello, World!"))
	c.WriteUnit("replace.1.service", "[Unit]\nDescription=Test Unit\n\n"+fleetLoop("Hello, World!")+"\n[X-Fleet]\nReplaces=replace.0.service\n")
	c.WriteUnit("discovery.service", "[Unit]\nBindsTo=hello.service\n\n"+fleetLoop("discovery.service unit file")+
		"\n[Install]\nWantedBy=hello.service\n\n[X-Fleet]\nMachineOf=hello.service\n")

	// active waits until exactly the named units are active (want: unit ->
	// how many machines), and returns where each runs.
	active := func(t *testing.T, want map[string]int) map[string][]string {
		t.Helper()
		var got map[string][]string
		err := testutil.Eventually(60*time.Second, func() error {
			st, err := c.States()
			if err != nil {
				return err
			}
			got = map[string][]string{}
			for name := range st {
				if ms := ActiveOn(st, name); len(ms) > 0 {
					got[name] = ms
				}
			}
			for name, n := range want {
				if len(got[name]) != n {
					return fmt.Errorf("%s active on %d machines, want %d (active: %v)", name, len(got[name]), n, got)
				}
			}
			for name := range got {
				if _, ok := want[name]; !ok {
					return fmt.Errorf("%s is active, and should not be (active: %v)", name, got)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// clean destroys every unit and waits until none runs.
	clean := func(t *testing.T) {
		out := c.MustFleetctl("list-unit-files", "--no-legend", "--fields", "unit")
		if names := strings.Fields(out); len(names) > 0 {
			c.MustFleetctl(append([]string{"destroy"}, names...)...)
		}
		active(t, nil)
	}

	t.Run("MachineOf pairs", func(t *testing.T) { // TestScheduleMachineOf
		defer clean(t)
		for i := range 3 {
			c.MustFleetctl("start", "--no-block", fmt.Sprintf("ping.%d.service", i), fmt.Sprintf("pong.%d.service", i))
		}
		if n := len(strings.Fields(c.MustFleetctl("list-unit-files", "--no-legend", "--fields", "unit"))); n != 6 {
			t.Fatalf("%d unit files, want 6", n)
		}
		got := active(t, map[string]int{"ping.0.service": 1, "pong.0.service": 1, "ping.1.service": 1, "pong.1.service": 1, "ping.2.service": 1, "pong.2.service": 1})
		for i := range 3 {
			if p, q := got[fmt.Sprintf("ping.%d.service", i)], got[fmt.Sprintf("pong.%d.service", i)]; p[0] != q[0] {
				t.Errorf("ping.%d on %s, pong.%d on %s: not together", i, p[0], i, q[0])
			}
		}
	})

	t.Run("Conflicts: 3 of 5 on 3 machines", func(t *testing.T) { // TestScheduleConflicts
		defer clean(t)
		for i := range 5 {
			c.MustFleetctl("start", "--no-block", fmt.Sprintf("conflict.%d.service", i))
		}
		var got map[string][]string
		err := testutil.Eventually(60*time.Second, func() error {
			st, err := c.States()
			if err != nil {
				return err
			}
			got = map[string][]string{}
			for i := range 5 {
				name := fmt.Sprintf("conflict.%d.service", i)
				if ms := ActiveOn(st, name); len(ms) > 0 {
					got[name] = ms
				}
			}
			if len(got) != 3 {
				return fmt.Errorf("%d of the 5 active, want 3: %v", len(got), got)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		machines := map[string]bool{}
		for _, ms := range got {
			machines[ms[0]] = true
		}
		if len(machines) != 3 {
			t.Errorf("3 active units not on 3 machines: %v", got)
		}
	})

	t.Run("one-way conflict", func(t *testing.T) { // TestScheduleOneWayConflict
		defer clean(t)
		c.MustFleetctl("start", "--no-block", "conflicts-with-hello.service")
		active(t, map[string]int{"conflicts-with-hello.service": 1})
		c.MustFleetctl("start", "--no-block", "hello.service")
		got := active(t, map[string]int{"conflicts-with-hello.service": 1, "hello.service": 1})
		if got["hello.service"][0] == got["conflicts-with-hello.service"][0] {
			t.Errorf("hello.service shares a machine with the unit that conflicts with it: %v", got)
		}
		// Destroying the conflicting unit leaves hello running.
		c.MustFleetctl("destroy", "conflicts-with-hello.service")
		active(t, map[string]int{"hello.service": 1})
	})

	t.Run("global units", func(t *testing.T) { // TestScheduleGlobalUnits
		defer clean(t)
		c.MustFleetctl("start", "--no-block", "hello.service", "goodbye.service")
		active(t, map[string]int{"hello.service": 1, "goodbye.service": 1})
		c.MustFleetctl("start", "--no-block", "global.service")
		got := active(t, map[string]int{"hello.service": 1, "goodbye.service": 1, "global.service": 3})
		for _, id := range ids {
			if !slices.Contains(got["global.service"], id) {
				t.Errorf("global.service not on %s: %v", id, got["global.service"])
			}
		}
	})

	t.Run("global unit whose Conflicts match its own name", func(t *testing.T) { // conflict-global.1
		defer clean(t)
		// fleet skips a unit's own name in its Conflicts (agent/state.go),
		// so a global unit conflicting with its family still runs on
		// every machine.
		c.MustFleetctl("start", "--no-block", "conflict-global.1.service")
		got := active(t, map[string]int{"conflict-global.1.service": 3})
		for _, id := range ids {
			if !slices.Contains(got["conflict-global.1.service"], id) {
				t.Errorf("conflict-global.1.service not on %s: %v", id, got["conflict-global.1.service"])
			}
		}
	})

	t.Run("MachineID from the instance", func(t *testing.T) { // TestScheduleConditionMachineID, pin@
		defer clean(t)
		want := map[string]int{}
		for _, id := range ids {
			name := "pin@" + id + ".service"
			c.MustFleetctl("start", name)
			want[name] = 1
		}
		got := active(t, want)
		for _, id := range ids {
			if m := got["pin@"+id+".service"]; m[0] != id {
				t.Errorf("pin@%s.service runs on %s", id, m[0])
			}
		}
	})

	t.Run("MachineMetadata from the instance", func(t *testing.T) { // metadata@
		defer clean(t)
		c.MustFleetctl("start", "metadata@smoke1.service", "metadata@smoke2.service")
		got := active(t, map[string]int{"metadata@smoke1.service": 1, "metadata@smoke2.service": 1})
		if got["metadata@smoke1.service"][0] != ids["n2"] || got["metadata@smoke2.service"][0] != ids["n3"] {
			t.Errorf("metadata@ instances not on the machines with their hostname: %v (n2 %s, n3 %s)", got, ids["n2"], ids["n3"])
		}
	})

	t.Run("templates", func(t *testing.T) { // TestUnitRunnable-style instances
		defer clean(t)
		c.MustFleetctl("start", "hello@1.service", "hello@2.service")
		active(t, map[string]int{"hello@1.service": 1, "hello@2.service": 1})
	})

	t.Run("Replaces", func(t *testing.T) { // TestScheduleReplace
		defer clean(t)
		c.MustFleetctl("start", "--no-block", "replace.0.service")
		active(t, map[string]int{"replace.0.service": 1})
		c.MustFleetctl("start", "--no-block", "replace.1.service")
		got := active(t, map[string]int{"replace.0.service": 1, "replace.1.service": 1})
		if got["replace.0.service"][0] == got["replace.1.service"][0] {
			t.Errorf("replace.1 shares a machine with the unit it replaces: %v", got)
		}
	})

	t.Run("circular Replaces", func(t *testing.T) { // TestScheduleCircularReplace
		defer clean(t)
		// replace.0 made to replace replace.1, as the test's GenNewFleetService does.
		must(t, os.MkdirAll(filepath.Join(c.Dir, "circular"), 0o755))
		c.WriteUnit("circular/replace.0.service", "[Unit]\nDescription=Test Unit\n\n"+fleetLoop("Hello, World!")+"\n[X-Fleet]\nReplaces=replace.1.service\n")
		c.MustFleetctl("start", "--no-block", "circular/replace.0.service")
		active(t, map[string]int{"replace.0.service": 1})
		c.MustFleetctl("start", "--no-block", "replace.1.service")
		// Both submitted, one of the two runs, and keeps running.
		time.Sleep(3 * time.Second)
		active(t, map[string]int{"replace.0.service": 1})
		out := c.MustFleetctl("list-unit-files", "--no-legend", "--fields", "unit,dstate")
		if strings.Count(out, "launched") != 2 {
			t.Errorf("both units should be submitted and launched (one waiting): %q", out)
		}
	})

	t.Run("metadata set over the API", func(t *testing.T) { // TestMachinesPatchAddModify, then scheduled on
		defer clean(t)
		ctx := context.Background()
		must(t, c.Client().PatchMachines(ctx, []client.MetadataOp{{Op: "add", Path: "/" + ids["n3"] + "/metadata/role", Value: "db"}}))
		c.WriteUnit("db.service", fleetLoop("db")+"\n[X-Fleet]\nMachineMetadata=role=db\n")
		c.MustFleetctl("start", "db.service")
		if got := active(t, map[string]int{"db.service": 1}); got["db.service"][0] != ids["n3"] {
			t.Errorf("db.service on %s, want n3 (%s), the machine given role=db", got["db.service"][0], ids["n3"])
		}
		// Moved to another machine by moving the metadata.
		must(t, c.Client().PatchMachines(ctx, []client.MetadataOp{
			{Op: "remove", Path: "/" + ids["n3"] + "/metadata/role"},
			{Op: "add", Path: "/" + ids["n1"] + "/metadata/role", Value: "db"},
		}))
		err := testutil.Eventually(30*time.Second, func() error {
			st, err := c.States()
			if err != nil {
				return err
			}
			if ms := ActiveOn(st, "db.service"); len(ms) != 1 || ms[0] != ids["n1"] {
				return fmt.Errorf("db.service active on %v, want n1 (%s)", ms, ids["n1"])
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		must(t, c.Client().PatchMachines(ctx, []client.MetadataOp{{Op: "remove", Path: "/" + ids["n1"] + "/metadata/role"}}))
	})

	t.Run("fleetctl as fleet's tests and tutorials call it", func(t *testing.T) {
		defer clean(t)
		c.MustFleetctl("--strict-host-key-checking=false", "start", "hello.service", "goodbye.service")
		before := active(t, map[string]int{"hello.service": 1, "goodbye.service": 1})
		pid := unitPID(t, c, "hello.service")
		// A list with a missing unit: the others are acted on, exit 0.
		_, errOut, err := c.Fleetctl("stop", "ghost.service", "goodbye.service")
		if err != nil || !strings.Contains(errOut, "Unit not found, skipped: ghost.service") {
			t.Errorf("stop with a missing unit: %v, stderr %q", err, errOut)
		}
		active(t, map[string]int{"hello.service": 1})
		// No units: fleet's "No units given", exit 0.
		if _, errOut, err := c.Fleetctl("unload"); err != nil || !strings.Contains(errOut, "No units given") {
			t.Errorf("unload with no units: %v, stderr %q", err, errOut)
		}
		// restart: a new process, on the same machine.
		c.MustFleetctl("restart", "hello.service")
		after := active(t, map[string]int{"hello.service": 1})
		if after["hello.service"][0] != before["hello.service"][0] {
			t.Errorf("hello.service moved on restart: %v -> %v", before["hello.service"], after["hello.service"])
		}
		if got := unitPID(t, c, "hello.service"); got == pid {
			t.Errorf("hello.service still has pid %d after restart", pid)
		}
	})

	t.Run("MachineOf sidekick", func(t *testing.T) { // discovery.service next to hello.service
		defer clean(t)
		c.MustFleetctl("start", "--no-block", "hello.service", "discovery.service")
		got := active(t, map[string]int{"hello.service": 1, "discovery.service": 1})
		if got["hello.service"][0] != got["discovery.service"][0] {
			t.Errorf("discovery.service not next to hello.service: %v", got)
		}
	})
}
