package engine

import (
	"sort"
	"testing"

	"github.com/flotilla-os/flotilla/internal/registry"
	"github.com/flotilla-os/flotilla/internal/unit"
)

func rec(t *testing.T, name, body string) *registry.UnitRecord {
	t.Helper()
	f, err := unit.Parse(name, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return &registry.UnitRecord{Name: name, Hash: f.Hash(), Options: f.Options}
}

// describe renders changes as sorted strings: "put u@m target", "del u@m",
// "unplaced u", "clear u", "clearmove u".
func describe(cs []registry.Change) []string {
	var out []string
	for _, c := range cs {
		switch {
		case c.Put != nil:
			out = append(out, "put "+c.Put.Unit+"@"+c.Put.Machine+" "+c.Put.Target)
		case c.DelUnit != "":
			out = append(out, "del "+c.DelUnit+"@"+c.DelMach)
		case c.ClearMove != "":
			out = append(out, "clearmove "+c.ClearMove)
		case c.ClearOnly:
			out = append(out, "clear "+c.Unplaced)
		default:
			out = append(out, "unplaced "+c.Unplaced)
		}
	}
	sort.Strings(out)
	return out
}

func TestPlan(t *testing.T) {
	plain := "[Service]\nExecStart=/bin/true\n"
	a := rec(t, "a.service", plain)
	pinned := rec(t, "p.service", plain+"[X-Fleet]\nMachineID=m9\n")
	tmpl := rec(t, "t@.service", plain)
	global := rec(t, "g.service", plain+"[X-Fleet]\nGlobal=true\n")
	two := map[string]*registry.MachineRecord{"m1": {ID: "m1"}, "m2": {ID: "m2"}}
	drainM1 := map[string]bool{"m1": true}
	machines := map[string]*registry.MachineRecord{"m1": {ID: "m1"}}
	place := func(u *registry.UnitRecord, m, target string) []*registry.Placement {
		return []*registry.Placement{{Unit: u.Name, Machine: m, Target: target, Hash: u.Hash}}
	}
	cases := []struct {
		name string
		snap registry.Snapshot
		want []string
	}{
		{"new unit is placed", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "launched"}, Machines: machines},
			[]string{"put a.service@m1 launched"}},
		{"placed and unchanged: nothing to write", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "launched"}, Machines: machines,
			Placements: map[string][]*registry.Placement{"a.service": place(a, "m1", "launched")}},
			nil},
		{"desired state change rewrites the placement", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "loaded"}, Machines: machines,
			Placements: map[string][]*registry.Placement{"a.service": place(a, "m1", "launched")}},
			[]string{"put a.service@m1 loaded"}},
		{"inactive unit is unplaced", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "inactive"}, Machines: machines,
			Placements: map[string][]*registry.Placement{"a.service": place(a, "m1", "launched")}},
			[]string{"del a.service@m1"}},
		{"destroyed unit is removed", registry.Snapshot{Machines: machines,
			Placements: map[string][]*registry.Placement{"a.service": place(a, "m1", "launched")}},
			[]string{"del a.service@m1"}},
		{"dead machine's unit moves", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "launched"}, Machines: machines,
			Placements: map[string][]*registry.Placement{"a.service": place(a, "m0", "launched")}},
			[]string{"del a.service@m0", "put a.service@m1 launched"}},
		{"unplaceable unit gets a reason, templates are never placed", registry.Snapshot{
			Units:   map[string]*registry.UnitRecord{"p.service": pinned, "t@.service": tmpl},
			Desired: map[string]string{"p.service": "launched", "t@.service": "inactive"}, Machines: machines},
			[]string{"unplaced p.service"}},
		{"reason cleared once placeable", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "launched"}, Machines: machines,
			Placements: map[string][]*registry.Placement{"a.service": place(a, "m1", "launched")},
			Unplaced:   map[string]string{"a.service": "no machines"}},
			[]string{"clear a.service"}},
		{"draining machine's unit moves", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "launched"}, Machines: two,
			Placements: map[string][]*registry.Placement{"a.service": place(a, "m1", "launched")}, Draining: drainM1},
			[]string{"put a.service@m2 launched"}}, // the old copy goes once the new one runs (drain_test.go)
		{"nothing new lands on a draining machine", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"a.service": a}, Desired: map[string]string{"a.service": "launched"}, Machines: machines,
			Draining: drainM1},
			[]string{"unplaced a.service"}},
		{"global unit stays on a draining machine", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"g.service": global}, Desired: map[string]string{"g.service": "launched"}, Machines: two,
			Placements: map[string][]*registry.Placement{"g.service": append(place(global, "m1", "launched"), place(global, "m2", "launched")...)},
			Draining:   drainM1},
			nil},
		{"global unit on the only, draining machine stays placed", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"g.service": global}, Desired: map[string]string{"g.service": "launched"}, Machines: machines,
			Placements: map[string][]*registry.Placement{"g.service": place(global, "m1", "launched")}, Draining: drainM1},
			nil},
		{"a dead draining machine's global placement goes", registry.Snapshot{
			Units: map[string]*registry.UnitRecord{"g.service": global}, Desired: map[string]string{"g.service": "launched"}, Machines: machines,
			Placements: map[string][]*registry.Placement{"g.service": place(global, "m7", "launched")}, Draining: map[string]bool{"m7": true}},
			[]string{"del g.service@m7", "put g.service@m1 launched"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := describe(Plan(&tc.snap, ParseFleet))
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
