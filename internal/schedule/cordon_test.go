package schedule

import (
	"reflect"
	"strings"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// TestCordon: a cordoned machine keeps the units placed there and gets no
// new one, global units included; a unit with nowhere else to go says the
// machines are cordoned.
func TestCordon(t *testing.T) {
	m := func(id string, cordoned bool) Machine { return Machine{ID: id, Cordoned: cordoned} }
	plain := func(name string) Unit { return Unit{Name: name} }
	global := Unit{Name: "g.service", Fleet: unit.Fleet{Global: true}}
	cases := []struct {
		name    string
		s       Snapshot
		want    map[string][]string
		unplace map[string]string // substring of the reason
	}{
		{"new unit avoids the cordoned machine",
			Snapshot{Machines: []Machine{m("m1", true), m("m2", false)}, Units: []Unit{plain("a.service"), plain("b.service")}},
			map[string][]string{"a.service": {"m2"}, "b.service": {"m2"}}, nil},
		{"placed unit stays on a cordoned machine",
			Snapshot{Machines: []Machine{m("m1", true), m("m2", false)}, Units: []Unit{plain("a.service")}, Current: map[string][]string{"a.service": {"m1"}}},
			map[string][]string{"a.service": {"m1"}}, nil},
		{"global unit: only where it runs already",
			Snapshot{Machines: []Machine{m("m1", true), m("m2", false), m("m3", true)}, Units: []Unit{global}, Current: map[string][]string{"g.service": {"m3"}}},
			map[string][]string{"g.service": {"m2", "m3"}}, nil},
		{"every machine cordoned: unplaced, saying so",
			Snapshot{Machines: []Machine{m("m1", true), m("m2", true)}, Units: []Unit{plain("a.service")}},
			map[string][]string{}, map[string]string{"a.service": "cordoned (m1 m2)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Place(tc.s)
			if !reflect.DeepEqual(r.Placements, tc.want) {
				t.Errorf("placements %v, want %v", r.Placements, tc.want)
			}
			if len(r.Unplaceable) != len(tc.unplace) {
				t.Errorf("unplaceable %v, want %v", r.Unplaceable, tc.unplace)
			}
			for name, sub := range tc.unplace {
				if !strings.Contains(r.Unplaceable[name], sub) {
					t.Errorf("%s: reason %q, want it to contain %q", name, r.Unplaceable[name], sub)
				}
			}
		})
	}
}
