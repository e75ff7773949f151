package engine

import (
	"testing"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/rollout"
)

// TestPlanHoldsRolloutPending: while a rollout has a Global unit's machine
// pending, Plan keeps its placement at the old revision (target changes
// still go through); a released machine gets the new revision; a machine
// with no placement yet gets the new one; a finished rollout holds nothing.
func TestPlanHoldsRolloutPending(t *testing.T) {
	old := rec(t, "g.service", "[Service]\nExecStart=/bin/sleep 1\n[X-Fleet]\nGlobal=true\n")
	cur := rec(t, "g.service", "[Service]\nExecStart=/bin/sleep 2\n[X-Fleet]\nGlobal=true\n")
	machines := map[string]*registry.MachineRecord{"m1": {ID: "m1"}, "m2": {ID: "m2"}, "m3": {ID: "m3"}}
	oldOn := func(m, target string) *registry.Placement {
		return &registry.Placement{Unit: "g.service", Machine: m, Target: target, Hash: old.Hash, Options: old.Options}
	}
	ro := func(state string) *rollout.Rollout {
		return &rollout.Rollout{Name: "g.service", State: state, Units: map[string]rollout.Revs{"g.service": {From: old.Hash, To: cur.Hash}},
			Items: []*rollout.Item{{Unit: "g.service", Machine: "m1", Phase: rollout.Released}, {Unit: "g.service", Machine: "m2", Phase: rollout.Pending}}}
	}
	for _, tc := range []struct {
		name    string
		state   string
		desired string
		want    map[string]string // machine -> hash written ("" none)
	}{
		{"running", rollout.Running, "launched", map[string]string{"m1": cur.Hash, "m3": cur.Hash}},
		{"paused holds too", rollout.Paused, "launched", map[string]string{"m1": cur.Hash, "m3": cur.Hash}},
		{"target change on a held machine keeps its revision", rollout.Running, "loaded",
			map[string]string{"m1": cur.Hash, "m2": old.Hash, "m3": cur.Hash}},
		{"reverted holds nothing", rollout.Reverted, "launched", map[string]string{"m1": cur.Hash, "m2": cur.Hash, "m3": cur.Hash}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := &registry.Snapshot{
				Units: map[string]*registry.UnitRecord{"g.service": cur}, Desired: map[string]string{"g.service": tc.desired},
				Machines:   machines,
				Placements: map[string][]*registry.Placement{"g.service": {oldOn("m1", "launched"), oldOn("m2", "launched")}},
				Rollouts:   map[string]*rollout.Rollout{"g.service": ro(tc.state)},
			}
			got := map[string]string{}
			for _, c := range Plan(snap, ParseFleet) {
				if c.Put != nil {
					got[c.Put.Machine] = c.Put.Hash
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("wrote %v, want %v", got, tc.want)
			}
			for m, h := range tc.want {
				if got[m] != h {
					t.Errorf("%s: wrote %.7s, want %.7s", m, got[m], h)
				}
			}
		})
	}
}
