package clustertest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
)

// TestClusterPlacement: three etcd members and one client-only node place
// templates, Conflicts, Global, metadata, MachineOf and MachineID correctly,
// driven through the fleetctl binary; bad units are refused and not stored.
func TestClusterPlacement(t *testing.T) {
	testenv.NeedSlow(t)
	c := New(t, 3, 1, "region=us,disk=ssd", "region=us,disk=hdd", "region=eu,disk=ssd", "region=eu,disk=hdd")
	c.StartAll()
	id := map[string]string{}
	for _, n := range c.Nodes {
		id[n.Name] = n.MachineID()
	}
	sleep := "[Service]\nExecStart=/bin/sleep 1000\n"
	web := c.WriteUnit("web@.service", "[Unit]\nDescription=web %i\n"+sleep+"[X-Fleet]\nConflicts=web@*.service\n")
	_ = web
	c.WriteUnit("global.service", sleep+"[X-Fleet]\nGlobal=true\nMachineMetadata=disk=ssd\n")
	c.WriteUnit("eu-hdd.service", sleep+"[X-Fleet]\nMachineMetadata=region=eu\nMachineMetadata=disk=hdd\n")
	c.WriteUnit("hdd-or-nvme.service", sleep+"[X-Fleet]\nMachineMetadata=disk=nvme disk=hdd\n")
	c.WriteUnit("follower.service", sleep+"[X-Fleet]\nMachineOf=eu-hdd.service\n")
	c.WriteUnit("pinned.service", sleep+fmt.Sprintf("[X-Fleet]\nMachineID=%s\n", id["n2"]))

	c.MustFleetctl("submit", "web@.service")
	c.MustFleetctl("start", "web@1.service", "web@2.service", "web@3.service", "web@4.service")
	c.MustFleetctl("start", "global.service", "eu-hdd.service", "hdd-or-nvme.service", "pinned.service")
	c.MustFleetctl("start", "follower.service")

	var st map[string][]string
	err := testutil.Eventually(30*time.Second, func() error {
		states, err := c.States()
		if err != nil {
			return err
		}
		st = map[string][]string{}
		for u := range states {
			on := ActiveOn(states, u)
			slices.Sort(on)
			st[u] = on
		}
		for _, u := range []string{"web@1.service", "web@2.service", "web@3.service", "web@4.service", "eu-hdd.service", "hdd-or-nvme.service", "follower.service", "pinned.service"} {
			if len(st[u]) != 1 {
				return fmt.Errorf("%s active on %v, want one machine", u, st[u])
			}
		}
		if len(st["global.service"]) != 2 {
			return fmt.Errorf("global.service active on %v, want the two ssd machines", st["global.service"])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	webs := map[string]bool{}
	for i := 1; i <= 4; i++ {
		webs[st[fmt.Sprintf("web@%d.service", i)][0]] = true
	}
	if len(webs) != 4 {
		t.Errorf("web@1..4 share machines despite Conflicts: %v", st)
	}
	want := []string{id["n1"], id["n3"]}
	slices.Sort(want)
	if !slices.Equal(st["global.service"], want) {
		t.Errorf("global.service on %v, want ssd machines %v", st["global.service"], want)
	}
	if st["eu-hdd.service"][0] != id["n4"] {
		t.Errorf("eu-hdd.service on %s, want n4 %s (region=eu AND disk=hdd)", st["eu-hdd.service"][0], id["n4"])
	}
	if m := st["hdd-or-nvme.service"][0]; m != id["n2"] && m != id["n4"] {
		t.Errorf("hdd-or-nvme.service on %s, want an hdd machine (n2 or n4)", m)
	}
	if st["follower.service"][0] != st["eu-hdd.service"][0] {
		t.Errorf("follower.service on %s, want MachineOf eu-hdd.service on %s", st["follower.service"][0], st["eu-hdd.service"][0])
	}
	if st["pinned.service"][0] != id["n2"] {
		t.Errorf("pinned.service on %s, want MachineID n2 %s", st["pinned.service"][0], id["n2"])
	}

	// list-units through the binary shows the columns fleet shows.
	out := c.MustFleetctl("list-units")
	if !strings.HasPrefix(out, "UNIT") || !strings.Contains(out, "MACHINE") || !strings.Contains(out, "web@3.service") {
		t.Errorf("list-units output:\n%s", out)
	}

	t.Run("bad input is refused and not stored", func(t *testing.T) {
		bad := map[string]string{
			"g-and-mof.service": sleep + "[X-Fleet]\nGlobal=true\nMachineOf=web@1.service\n",
			"unknown.service":   sleep + "[X-Fleet]\nMachineFoo=bar\n",
			"cycle-a.service":   sleep + "[X-Fleet]\nMachineOf=cycle-b.service\n",
			// What the node's unit manager checks is checked at submit.
			"bad-type.service": sleep + "Type=bogus\n",
			"no-exec.service":  "[Service]\nRestart=always\n",
		}
		c.WriteUnit("cycle-b.service", sleep+"[X-Fleet]\nMachineOf=cycle-a.service\n")
		c.MustFleetctl("submit", "cycle-b.service")
		wantIn := map[string]string{"g-and-mof.service": "Global", "unknown.service": "MachineFoo", "cycle-a.service": "MachineOf",
			"bad-type.service": "Type", "no-exec.service": "ExecStart"}
		for name, body := range bad {
			c.WriteUnit(name, body)
			_, errOut, err := c.Fleetctl("submit", name)
			if err == nil {
				t.Errorf("submit %s succeeded, want a refusal", name)
				continue
			}
			if !strings.Contains(errOut, name) || !strings.Contains(errOut, wantIn[name]) {
				t.Errorf("submit %s: error %q should name the unit and %s", name, errOut, wantIn[name])
			}
		}
		out := c.MustFleetctl("list-unit-files", "--no-legend", "--fields", "unit")
		for name := range bad {
			if strings.Contains(out, name) {
				t.Errorf("refused unit %s was stored:\n%s", name, out)
			}
		}
		if _, errOut, err := c.Fleetctl("start", "--no-block", "nosuch.service"); err == nil || !strings.Contains(errOut, "nosuch.service") {
			t.Errorf("start of a missing unit: err %v, stderr %q", err, errOut)
		}
	})

	t.Run("journal is proxied from the machine running the unit", func(t *testing.T) {
		c.WriteUnit("talk.service", "[Service]\nExecStart=/bin/sh -c 'for i in 1 2 3 4 5; do echo line-$$i; done; exec sleep 1000'\n[X-Fleet]\nMachineID="+id["n3"]+"\n")
		c.MustFleetctl("start", "talk.service")
		err := testutil.Eventually(15*time.Second, func() error {
			out, errOut, err := c.Fleetctl("journal", "--lines", "2", "talk.service")
			if err != nil {
				return fmt.Errorf("%v: %s", err, errOut)
			}
			if !strings.Contains(out, "line-5") || strings.Contains(out, "line-1") {
				return fmt.Errorf("journal --lines 2:\n%s", out)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
}
