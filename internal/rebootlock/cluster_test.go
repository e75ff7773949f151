package rebootlock

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/etcdclient"
	"github.com/flotilla-os/flotilla/internal/testenv"
	"github.com/flotilla-os/flotilla/internal/testutil"
	"github.com/flotilla-os/flotilla/internal/version"
)

// TestCluster runs three real fleetd members with mutual TLS and checks,
// in order: Healthy, CanReboot, Drain moving units (global ones stay),
// the update status in fleetctl list-machines, Undrain, and CanReboot
// refusing once a member is killed.
func TestCluster(t *testing.T) {
	testenv.NeedSlow(t)
	c := clustertest.New(t, 3, 0)
	c.StartAll()
	var eps []string
	for _, n := range c.Nodes {
		eps = append(eps, fmt.Sprintf("https://127.0.0.1:%d", n.ClientPort))
	}
	cli, err := Dial(eps, etcdclient.TLS{CertFile: c.TLS.Node.CertFile, KeyFile: c.TLS.Node.KeyFile, CAFile: c.TLS.CA})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n1, n3 := c.Nodes[0], c.Nodes[2]
	self := n1.MachineID()

	check := HealthCheck{Socket: filepath.Join(n1.DataDir, "fleetd.sock"), Machine: self, Member: n1.Name}
	if err := Healthy(ctx, cli, check); err != nil {
		t.Fatalf("Healthy: %v", err)
	}
	bad := check
	bad.Socket = filepath.Join(c.Dir, "nothing.sock")
	if err := Healthy(ctx, cli, bad); err == nil || !strings.Contains(err.Error(), "fleetd does not answer on "+bad.Socket) {
		t.Errorf("Healthy without fleetd: %v", err)
	}
	bad = check
	bad.Machine = "0123456789abcdef0123456789abcdef"
	if err := Healthy(ctx, cli, bad); err == nil || !strings.Contains(err.Error(), "is not registered") {
		t.Errorf("Healthy of an unregistered machine: %v", err)
	}
	if err := CanReboot(ctx, cli, n1.Name); err != nil {
		t.Fatalf("CanReboot with three healthy members: %v", err)
	}

	// Units: six plain ones spread over the nodes, one global.
	var names []string
	for i := range 6 {
		name := fmt.Sprintf("dr-%d.service", i)
		c.WriteUnit(name, "[Service]\nExecStart=/bin/sleep 1000\n")
		names = append(names, name)
	}
	c.WriteUnit("glob.service", "[Service]\nExecStart=/bin/sleep 1000\n[X-Fleet]\nGlobal=true\n")
	c.MustFleetctl(append([]string{"start", "--no-block", "glob.service"}, names...)...)
	if err := testutil.Eventually(60*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		if on := clustertest.ActiveOn(st, "glob.service"); len(on) != 3 {
			return fmt.Errorf("glob.service active on %v", on)
		}
		for _, u := range names {
			if on := clustertest.ActiveOn(st, u); len(on) != 1 {
				return fmt.Errorf("%s active on %v", u, on)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	if held, err := Acquire(ctx, cli, self); !held || err != nil {
		t.Fatalf("Acquire = %v, %v", held, err)
	}
	start := time.Now()
	if err := Drain(ctx, cli, self); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	t.Logf("drained %s in %s", n1.Name, time.Since(start).Round(time.Millisecond))
	if err := testutil.Eventually(30*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, u := range names {
			on := clustertest.ActiveOn(st, u)
			if len(on) != 1 || on[0] == self {
				return fmt.Errorf("%s active on %v after draining %s", u, on, self)
			}
		}
		if on := clustertest.ActiveOn(st, "glob.service"); !slices.Contains(on, self) {
			return fmt.Errorf("the global unit left the draining node: active on %v", on)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The updater's state shows in fleetctl.
	if err := SetStatus(ctx, cli, self, "rebooting"); err != nil {
		t.Fatal(err)
	}
	out := c.MustFleetctl("list-machines", "-l", "--no-legend", "--fields", "machine,version,update")
	if want := self + "\t" + version.Version + "\trebooting\n"; !strings.Contains(out, want) {
		t.Errorf("list-machines --fields machine,version,update:\n%s\nwant a line %q", out, want)
	}
	if got := strings.Count(out, "\t"+version.Version+"\t-\n"); got != 2 {
		t.Errorf("list-machines: want the two other nodes with no update state:\n%s", out)
	}

	// Undrain: new units may land on it again.
	if err := Undrain(ctx, cli, self); err != nil {
		t.Fatal(err)
	}
	if err := Release(ctx, cli, self); err != nil {
		t.Fatal(err)
	}
	var more []string
	for i := range 6 {
		name := fmt.Sprintf("back-%d.service", i)
		c.WriteUnit(name, "[Service]\nExecStart=/bin/sleep 1000\n")
		more = append(more, name)
	}
	c.MustFleetctl(append([]string{"start", "--no-block"}, more...)...)
	if err := testutil.Eventually(60*time.Second, func() error {
		st, err := c.States()
		if err != nil {
			return err
		}
		for _, u := range more {
			if on := clustertest.ActiveOn(st, u); len(on) == 1 && on[0] == self {
				return nil
			}
		}
		return fmt.Errorf("no new unit runs on the undrained %s", self)
	}); err != nil {
		t.Error(err)
	}

	// A member down: n1 must not reboot.
	c.Kill(n3)
	err = CanReboot(ctx, cli, n1.Name)
	if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "etcd member "+n3.Name) {
		t.Fatalf("CanReboot with %s killed = %v; want ErrUnsafe naming it", n3.Name, err)
	}
	t.Logf("refusal: %v", err)
	if err := Healthy(ctx, cli, check); err != nil {
		t.Errorf("n1 is still healthy with one member down: %v", err)
	}
}
