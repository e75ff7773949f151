package engine

import (
	"context"
	"testing"
	"time"

	"github.com/flotilla-os/flotilla/internal/clustertest"
	"github.com/flotilla-os/flotilla/internal/registry"
)

// TestDeadMachineHeld: a machine fenced by MachineDied vanishes at once
// (its lease is revoked), but its unit stays placed on it for
// DeadLeaderHold after the revoke, as long as its agent may still run it,
// then moves. An engine of another fleetd, which did not fence it itself,
// holds it as long as the fence mark lives.
func TestDeadMachineHeld(t *testing.T) {
	const ttl = 2 * time.Second // DeadLeaderHold 2.25 s
	node := clustertest.Etcd(t)
	reg := registry.New(node.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range []struct{ id, name string }{{"m1", "one"}, {"m2", "two"}} {
		lease, err := reg.Grant(ctx, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.RegisterMachine(ctx, &registry.MachineRecord{ID: m.id, Name: m.name}, lease); err != nil {
			t.Fatal(err)
		}
	}
	u := rec(t, "a.service", "[Service]\nExecStart=/bin/true\n")
	if _, err := reg.PutUnit(ctx, u, registry.TargetLaunched, false); err != nil {
		t.Fatal(err)
	}
	term, err := reg.Campaign(ctx, "m2", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	e := New(reg, Config{MachineID: "m2", TTL: ttl})
	other := New(reg, Config{MachineID: "m3", TTL: ttl}) // another fleetd's engine
	placedOn := func() string {
		t.Helper()
		snap, err := reg.Snapshot(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ps := snap.Placements["a.service"]; len(ps) == 1 {
			return ps[0].Machine
		}
		t.Fatalf("placements %v", snap.Placements["a.service"])
		return ""
	}
	if err := e.Reconcile(ctx, term.Guard()); err != nil {
		t.Fatal(err)
	}
	victim := placedOn()
	name := map[string]string{"m1": "one", "m2": "two"}[victim]

	e.MachineDied(ctx, name)
	fenced := time.Now()
	snap, err := reg.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Machines[victim] != nil {
		t.Fatalf("%s still registered after MachineDied", victim)
	}
	for _, eng := range []*Engine{e, other} {
		if err := eng.Reconcile(ctx, term.Guard()); err != nil {
			t.Fatal(err)
		}
		if on := placedOn(); on != victim {
			t.Fatalf("moved to %s %s after the revoke, before the dead machine's units were known dead", on, time.Since(fenced))
		}
	}
	// The fencing engine moves the unit once the hold has passed.
	hold := e.hold()
	deadline := time.Now().Add(10 * time.Second)
	for placedOn() == victim {
		if time.Now().After(deadline) {
			t.Fatalf("still on %s after %s", victim, time.Since(fenced))
		}
		if err := e.Reconcile(ctx, term.Guard()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if took := time.Since(fenced); took < hold {
		t.Fatalf("moved %s after the revoke, before %s", took, hold)
	}
	if marks, err := reg.Fenced(ctx); err != nil || !marks[victim] {
		t.Fatalf("fence mark of %s: %v, %v; want it to outlive the hold", victim, marks, err)
	}
}
