package engine

import (
	"slices"
	"testing"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestPlanDrain drives Plan through the steps of a drain: each case is one
// reconcile's snapshot and the writes it must make.
func TestPlanDrain(t *testing.T) {
	plain := "[Service]\nExecStart=/bin/true\n"
	a := rec(t, "a.service", plain)
	solo := rec(t, "solo@1.service", plain+"[X-Fleet]\nConflicts=solo@*.service\n")
	pinned := rec(t, "p.service", plain+"[X-Fleet]\nMachineID=m1\n")
	two := map[string]*registry.MachineRecord{"m1": {ID: "m1"}, "m2": {ID: "m2"}}
	three := map[string]*registry.MachineRecord{"m1": {ID: "m1"}, "m2": {ID: "m2"}, "m3": {ID: "m3"}}
	drainM1 := map[string]bool{"m1": true}
	place := func(u *registry.UnitRecord, target string, ms ...string) []*registry.Placement {
		var out []*registry.Placement
		for _, m := range ms {
			out = append(out, &registry.Placement{Unit: u.Name, Machine: m, Target: target, Hash: u.Hash})
		}
		return out
	}
	state := func(u *registry.UnitRecord, m, active, health string) *registry.StateRecord {
		return &registry.StateRecord{Unit: u.Name, Machine: m, Hash: u.Hash, State: unit.State{Active: active, Hash: u.Hash, Health: health}}
	}
	units := func(us ...*registry.UnitRecord) (map[string]*registry.UnitRecord, map[string]string) {
		rs, ds := map[string]*registry.UnitRecord{}, map[string]string{}
		for _, u := range us {
			rs[u.Name], ds[u.Name] = u, registry.TargetLaunched
		}
		return rs, ds
	}
	snap := func(u *registry.UnitRecord, machines map[string]*registry.MachineRecord, ps []*registry.Placement, states ...*registry.StateRecord) registry.Snapshot {
		rs, ds := units(u)
		return registry.Snapshot{Units: rs, Desired: ds, Machines: machines, Draining: drainM1,
			Placements: map[string][]*registry.Placement{u.Name: ps}, States: states}
	}
	loaded := snap(a, two, place(a, "loaded", "m1"))
	loaded.Desired["a.service"] = registry.TargetLoaded
	cordoned := snap(a, three, place(a, "launched", "m1"))
	cordoned.Cordoned = map[string]bool{"m2": true}
	cordonOnly := registry.Snapshot{Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "launched"},
		Machines: two, Cordoned: map[string]bool{"m1": true, "m2": true}}
	cordonKeeps := cordonOnly
	cordonKeeps.Placements = map[string][]*registry.Placement{"a.service": place(a, "launched", "m1")}

	cases := []struct {
		name string
		snap registry.Snapshot
		want []string
	}{
		// make before break
		{"new copy placed, old kept while the new one is not reported",
			snap(a, two, place(a, "launched", "m1"), state(a, "m1", "active", "")),
			[]string{"put a.service@m2 launched"}},
		{"new copy still activating: nothing to write",
			snap(a, two, place(a, "launched", "m1", "m2"), state(a, "m1", "active", ""), state(a, "m2", "activating", "")),
			nil},
		{"new copy active: the old placement goes",
			snap(a, two, place(a, "launched", "m1", "m2"), state(a, "m1", "active", ""), state(a, "m2", "active", "")),
			[]string{"del a.service@m1"}},
		{"new copy active but not yet healthy: old kept",
			snap(a, two, place(a, "launched", "m1", "m2"), state(a, "m2", "active", "starting")),
			nil},
		{"new copy healthy: the old placement goes",
			snap(a, two, place(a, "launched", "m1", "m2"), state(a, "m2", "active", "healthy")),
			[]string{"del a.service@m1"}},
		{"new copy failed: the drain goes on",
			snap(a, two, place(a, "launched", "m1", "m2"), state(a, "m2", "failed", "")),
			[]string{"del a.service@m1"}},
		{"new copy active at an old hash does not count",
			snap(a, two, place(a, "launched", "m1", "m2"), &registry.StateRecord{Unit: "a.service", Machine: "m2", Hash: "old", State: unit.State{Active: "active"}}),
			nil},
		{"a loaded unit just moves",
			loaded, []string{"del a.service@m1", "put a.service@m2 loaded"}},
		{"the new copy avoids a cordoned machine",
			cordoned, []string{"put a.service@m3 launched"}},
		// break before make
		{"one-at-a-time unit: old placement goes, new waits while it runs",
			snap(solo, two, place(solo, "launched", "m1"), state(solo, "m1", "active", "")),
			[]string{"del solo@1.service@m1"}},
		{"one-at-a-time unit: still stopping, still waiting",
			snap(solo, two, nil, state(solo, "m1", "deactivating", "")),
			nil},
		{"one-at-a-time unit: stopped, the new copy is placed",
			snap(solo, two, nil, state(solo, "m1", "inactive", "")),
			[]string{"put solo@1.service@m2 launched"}},
		{"one-at-a-time unit: the draining machine died, placed at once",
			snap(solo, map[string]*registry.MachineRecord{"m2": {ID: "m2"}}, place(solo, "launched", "m1")),
			[]string{"del solo@1.service@m1", "put solo@1.service@m2 launched"}},
		{"pinned unit has nowhere to go: it stops, with a reason",
			snap(pinned, two, place(pinned, "launched", "m1"), state(pinned, "m1", "active", "")),
			[]string{"del p.service@m1", "unplaced p.service"}},
		// cordon
		{"cordon: nothing new placed, with a reason",
			cordonOnly, []string{"unplaced a.service"}},
		{"cordon: a placed unit stays",
			cordonKeeps, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := describe(Plan(&tc.snap, ParseFleet))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	cases := []struct {
		name string
		fl   unit.Fleet
		want bool
	}{
		{"a.service", unit.Fleet{}, true},
		{"a.service", unit.Fleet{Conflicts: []string{"b.service"}}, true},
		{"web@1.service", unit.Fleet{Conflicts: []string{"web@*.service"}}, false},
		{"a.service", unit.Fleet{Global: true}, false},
		{"a.service", unit.Fleet{MachineID: "m1"}, false},
	}
	for _, tc := range cases {
		if got := Overlaps(tc.name, tc.fl); got != tc.want {
			t.Errorf("Overlaps(%s, %+v) = %v, want %v", tc.name, tc.fl, got, tc.want)
		}
	}
}

// TestPlanMove drives a move request (rebalance's primitive) through its
// reconciles: the same handoffs as a drain, then the request is cleared.
func TestPlanMove(t *testing.T) {
	plain := "[Service]\nExecStart=/bin/true\n"
	a := rec(t, "a.service", plain)
	solo := rec(t, "solo@1.service", plain+"[X-Fleet]\nConflicts=solo@*.service\n")
	two := map[string]*registry.MachineRecord{"m1": {ID: "m1"}, "m2": {ID: "m2"}}
	place := func(u *registry.UnitRecord, ms ...string) map[string][]*registry.Placement {
		var out []*registry.Placement
		for _, m := range ms {
			out = append(out, &registry.Placement{Unit: u.Name, Machine: m, Target: registry.TargetLaunched, Hash: u.Hash})
		}
		return map[string][]*registry.Placement{u.Name: out}
	}
	state := func(u *registry.UnitRecord, m, active string) *registry.StateRecord {
		return &registry.StateRecord{Unit: u.Name, Machine: m, Hash: u.Hash, State: unit.State{Active: active}}
	}
	snap := func(u *registry.UnitRecord, to string, ps map[string][]*registry.Placement, states ...*registry.StateRecord) registry.Snapshot {
		return registry.Snapshot{Units: map[string]*registry.UnitRecord{u.Name: u}, Desired: map[string]string{u.Name: registry.TargetLaunched},
			Machines: two, Placements: ps, States: states,
			Moves: map[string]*registry.MoveRecord{u.Name: {Unit: u.Name, From: "m1", To: to}}}
	}
	gone := snap(a, "m2", place(a, "m2"))
	gone.Units, gone.Desired = map[string]*registry.UnitRecord{}, map[string]string{}
	cases := []struct {
		name string
		snap registry.Snapshot
		want []string
	}{
		{"new copy placed on To, old kept", snap(a, "m2", place(a, "m1"), state(a, "m1", "active")),
			[]string{"put a.service@m2 launched"}},
		{"new copy active: old goes", snap(a, "m2", place(a, "m1", "m2"), state(a, "m1", "active"), state(a, "m2", "active")),
			[]string{"del a.service@m1"}},
		{"moved: the request is cleared", snap(a, "m2", place(a, "m2"), state(a, "m2", "active")),
			[]string{"clearmove a.service"}},
		{"no To and placement prefers From: cleared, nothing moves", snap(a, "", place(a, "m1"), state(a, "m1", "active")),
			[]string{"clearmove a.service"}},
		{"unit destroyed: cleared", gone,
			[]string{"clearmove a.service", "del a.service@m2"}},
		{"one-at-a-time unit: stop first", snap(solo, "m2", place(solo, "m1"), state(solo, "m1", "active")),
			[]string{"del solo@1.service@m1"}},
		{"one-at-a-time unit: stopped, placed on To", snap(solo, "m2", nil, state(solo, "m1", "inactive")),
			[]string{"put solo@1.service@m2 launched"}},
		{"one-at-a-time unit: moved, cleared", snap(solo, "m2", place(solo, "m2")),
			[]string{"clearmove solo@1.service"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := describe(Plan(&tc.snap, ParseFleet))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
