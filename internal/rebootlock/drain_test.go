package rebootlock

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

func placement(t *testing.T, name, body, machine string) registry.Change {
	t.Helper()
	f, err := unit.Parse(name, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return registry.PutPlacement(&registry.Placement{Unit: name, Machine: machine, Target: registry.TargetLaunched, Hash: f.Hash(), Options: f.Options})
}

// TestDrainGivesUp: with no engine to move them, Drain stops at its bound
// and names the units still there; a global unit is not waited for.
func TestDrainGivesUp(t *testing.T) {
	cli, ctx := etcdClient(t), ctxT(t)
	reg := registry.New(cli)
	always := clientv3.Compare(clientv3.CreateRevision("/nothing"), "=", 0)
	_, err := reg.Apply(ctx, always, []registry.Change{
		placement(t, "stuck.service", "[Service]\nExecStart=/bin/true\n", "m1"),
		placement(t, "g.service", "[Service]\nExecStart=/bin/true\n[X-Fleet]\nGlobal=true\n", "m1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Long enough for a read of etcd on a loaded machine: the message must
	// name the units that a complete read found.
	dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	err = Drain(dctx, cli, "m1")
	if err == nil || !strings.Contains(err.Error(), "drain m1: 1 units still here when giving up: stuck.service") {
		t.Fatalf("Drain = %v", err)
	}
	d, _ := reg.Draining(ctx)
	if !d["m1"] {
		t.Error("m1 not marked draining")
	}
	if err := Undrain(ctx, cli, "m1"); err != nil {
		t.Fatal(err)
	}
	if d, _ := reg.Draining(ctx); d["m1"] {
		t.Error("m1 still draining after Undrain")
	}
	// Only the global unit left: drained at once.
	reg.Apply(ctx, always, []registry.Change{registry.DeletePlacement("stuck.service", "m1")})
	if err := Drain(ctx, cli, "m1"); err != nil {
		t.Errorf("Drain with only a global unit: %v", err)
	}
}

// TestLockSurvivesReboot: the new boot, with a new client and nothing
// kept locally, finds and renews its slot, then releases it.
func TestLockSurvivesReboot(t *testing.T) {
	node, files := clustertest.EtcdTLS(t)
	ctx := ctxT(t)
	before, err := Dial(node.Client.Endpoints(), files)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := Acquire(ctx, before, "m1"); !held || err != nil {
		t.Fatalf("Acquire = %v, %v", held, err)
	}
	if err := Drain(ctx, before, "m1"); err != nil {
		t.Fatal(err)
	}
	before.Close() // the reboot

	after, err := Dial(node.Client.Endpoints(), files)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if err := Refresh(ctx, after, "m1"); err != nil {
		t.Fatalf("Refresh after the reboot: %v", err)
	}
	if d, _ := registry.New(after).Draining(ctx); !d["m1"] {
		t.Error("the drain mark did not survive the reboot")
	}
	if err := Release(ctx, after, "m1"); err != nil {
		t.Fatal(err)
	}
	if err := Refresh(ctx, after, "m1"); !errors.Is(err, ErrNotHeld) {
		t.Errorf("Refresh after Release = %v", err)
	}
	if d, _ := registry.New(after).Draining(ctx); d["m1"] {
		t.Error("Release left the drain mark (it shares the holder's lease)")
	}
}
