package engine

import (
	"testing"

	"github.com/flotilla-os/flotilla/internal/registry"
)

// TestCountPlacements: Plan's writes after one of two machines vanished
// count the moved unit as placed and failed over, a new unit as placed
// only, and a placement rewritten in place (new target) as neither.
func TestCountPlacements(t *testing.T) {
	moved := rec(t, "moved.service", "[Service]\nExecStart=/bin/true\n")
	fresh := rec(t, "fresh.service", "[Service]\nExecStart=/bin/true\n")
	kept := rec(t, "kept.service", "[Service]\nExecStart=/bin/true\n")
	snap := &registry.Snapshot{
		Units:    map[string]*registry.UnitRecord{moved.Name: moved, fresh.Name: fresh, kept.Name: kept},
		Desired:  map[string]string{moved.Name: registry.TargetLaunched, fresh.Name: registry.TargetLaunched, kept.Name: registry.TargetLaunched},
		Machines: map[string]*registry.MachineRecord{"alive": {ID: "alive"}},
		Placements: map[string][]*registry.Placement{
			moved.Name: {{Unit: moved.Name, Machine: "dead", Target: registry.TargetLaunched, Hash: moved.Hash}},
			kept.Name:  {{Unit: kept.Name, Machine: "alive", Target: registry.TargetLoaded, Hash: kept.Hash}},
		},
	}
	changes := Plan(snap, ParseFleet)
	placed, failed := CountPlacements(snap, changes)
	if placed != 2 || failed != 1 {
		t.Fatalf("placed %d, failed over %d; want 2, 1 (changes %v)", placed, failed, describe(changes))
	}
	if p, f := CountPlacements(snap, nil); p != 0 || f != 0 {
		t.Fatalf("no changes: placed %d, failed over %d", p, f)
	}
}
