package schedule

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// bigSnapshot builds n units on m machines: a mix of plain units, template
// instances spreading with Conflicts=%p@*.service, metadata constraints,
// MachineOf followers, Replaces and a few global units; with current set,
// half the units are already placed (as after a leader change).
func bigSnapshot(n, m int, current bool) Snapshot {
	s := Snapshot{Current: map[string][]string{}}
	regions := []string{"eu", "us", "asia"}
	for i := 0; i < m; i++ {
		s.Machines = append(s.Machines, Machine{ID: fmt.Sprintf("m%03d", i), Metadata: map[string]string{"region": regions[i%3], "disk": []string{"ssd", "hdd"}[i%2]}})
	}
	for i := 0; len(s.Units) < n; i++ {
		var u Unit
		switch i % 10 {
		case 0, 1: // instances of 50 templates: at most one per machine
			tmpl := fmt.Sprintf("web%02d", (i/10)%50)
			u = Unit{Name: fmt.Sprintf("%s@%d.service", tmpl, i), Fleet: unit.Fleet{Conflicts: []string{tmpl + "@*.service"}}}
		case 2:
			u = Unit{Name: fmt.Sprintf("eu%d.service", i), Fleet: unit.Fleet{MachineMetadata: map[string][]string{"region": {"eu", "us"}, "disk": {"ssd"}}}}
		case 3:
			u = Unit{Name: fmt.Sprintf("side%d.service", i), Fleet: unit.Fleet{MachineOf: []string{fmt.Sprintf("app%d.service", i+1)}}}
		case 5:
			u = Unit{Name: fmt.Sprintf("new%d.service", i), Fleet: unit.Fleet{Replaces: []string{fmt.Sprintf("app%d.service", i-1)}}}
		case 7:
			if i < 50 {
				u = Unit{Name: fmt.Sprintf("global%d.service", i), Fleet: unit.Fleet{Global: true, MachineMetadata: map[string][]string{"region": {regions[i%3]}}}}
				break
			}
			fallthrough
		default:
			u = Unit{Name: fmt.Sprintf("app%d.service", i)}
		}
		s.Units = append(s.Units, u)
		if current && i%2 == 0 {
			s.Current[u.Name] = []string{fmt.Sprintf("m%03d", (i*7)%(m+5))} // some on dead machines
		}
	}
	return s
}

// withReservations gives s's machines 16 to 64 GiB and 8 to 32 CPUs, and
// three units in four a reservation (200 to 600 MiB, 0.1 to 0.3 CPU): the
// cluster ends about 60% full by CPU and 75% by memory.
func withReservations(s Snapshot) Snapshot {
	s.Machines = append([]Machine(nil), s.Machines...)
	for i := range s.Machines {
		k := int64(i%4 + 1)
		s.Machines[i].Capacity = unit.Resources{Memory: k * 16 << 30, MilliCPU: k * 8000}
	}
	s.Units = append([]Unit(nil), s.Units...)
	for i := range s.Units {
		if i%4 != 3 {
			k := int64(i%4 + 1)
			s.Units[i].Fleet.Reserve = unit.Resources{Memory: k * 200 << 20, MilliCPU: k * 100}
		}
	}
	return s
}

func BenchmarkPlace10kOn100(b *testing.B) {
	for _, v := range []struct {
		cur, reserve bool
	}{{false, false}, {true, false}, {false, true}, {true, true}} {
		s := bigSnapshot(10000, 100, v.cur)
		if v.reserve {
			s = withReservations(s)
		}
		b.Run(fmt.Sprintf("current=%v/reservations=%v", v.cur, v.reserve), func(b *testing.B) {
			b.ReportAllocs()
			var r Result
			for b.Loop() {
				r = Place(s)
			}
			b.ReportMetric(float64(len(r.Unplaceable)), "unplaceable")
		})
	}
}

func TestPlaceBig(t *testing.T) {
	for _, reserve := range []bool{false, true} {
		s := bigSnapshot(10000, 100, true)
		if reserve {
			s = withReservations(s)
		}
		checkBig(t, s)
	}
}

func checkBig(t *testing.T, s Snapshot) {
	r, settled := place(s)
	if !settled {
		t.Fatal("placement did not settle")
	}
	if len(r.Placements)+len(r.Unplaceable) != len(s.Units) {
		t.Fatalf("%d placed + %d unplaceable != %d units", len(r.Placements), len(r.Unplaceable), len(s.Units))
	}
	checkInvariants(t, s, r)
	s.Current = r.Placements
	if r2 := Place(s); !reflect.DeepEqual(r2.Placements, r.Placements) {
		t.Fatal("not a fixed point")
	}
}

// checkInvariants verifies a Result against every rule, independently of how
// Place computes it.
func checkInvariants(t *testing.T, s Snapshot, r Result) {
	t.Helper()
	md := map[string]map[string]string{}
	cordoned := map[string]bool{}
	capacity := map[string]unit.Resources{}
	for _, m := range s.Machines {
		if _, dup := md[m.ID]; dup || m.ID == "" {
			continue
		}
		md[m.ID] = m.Metadata
		cordoned[m.ID] = m.Cordoned
		capacity[m.ID] = m.Capacity
	}
	fl := map[string]unit.Fleet{}
	for _, u := range s.Units {
		fl[u.Name] = u.Fleet
	}
	on := map[string][]string{} // machine -> units
	for name, ms := range r.Placements {
		f := fl[name]
		if !f.Global && len(ms) != 1 {
			t.Errorf("%s placed on %v", name, ms)
		}
		for _, m := range ms {
			if _, ok := md[m]; !ok {
				t.Errorf("%s on unknown machine %s", name, m)
			}
			if !f.MatchesMetadata(md[m]) {
				t.Errorf("%s on %s without metadata", name, m)
			}
			if f.MachineID != "" && !unit.MatchesMachineID(m, f.MachineID) {
				t.Errorf("%s on %s, not its MachineID", name, m)
			}
			for _, target := range f.MachineOf {
				if !containsStr(r.Placements[target], m) {
					t.Errorf("%s on %s but MachineOf=%s is on %v", name, m, target, r.Placements[target])
				}
			}
			on[m] = append(on[m], name)
		}
	}
	// A global unit runs on every machine matching its metadata, except,
	// when it has Conflicts, those running a unit it conflicts with.
	for name, f := range fl {
		if !f.Global {
			continue
		}
		for id, meta := range md {
			if !f.MatchesMetadata(meta) || containsStr(r.Placements[name], id) || (cordoned[id] && !containsStr(s.Current[name], id)) {
				continue
			}
			blocked := false
			var used unit.Resources
			for _, other := range on[id] {
				blocked = blocked || f.ConflictsWith(other) || fl[other].ConflictsWith(name) || fl[other].ReplacesUnit(name)
				used.Memory += fl[other].Reserve.Memory
				used.MilliCPU += fl[other].Reserve.MilliCPU
			}
			// No room: what the units there reserve leaves too little.
			// (Units only take room from a global placed before them,
			// never give it back, so it must not fit now either.)
			c, r := capacity[id], f.Reserve
			blocked = blocked || (r.Memory > 0 && r.Memory > c.Memory-used.Memory) || (r.MilliCPU > 0 && r.MilliCPU > c.MilliCPU-used.MilliCPU)
			if !blocked {
				t.Errorf("global %s not on %s, which matches and runs nothing it conflicts with (%v)", name, id, on[id])
			}
		}
	}
	// No machine holds more reservations than its capacity.
	for m, names := range on {
		var used unit.Resources
		for _, n := range names {
			used.Memory += fl[n].Reserve.Memory
			used.MilliCPU += fl[n].Reserve.MilliCPU
		}
		c := capacity[m]
		if (used.Memory > 0 && used.Memory > c.Memory) || (used.MilliCPU > 0 && used.MilliCPU > c.MilliCPU) {
			t.Errorf("%s overcommitted: units %v reserve %s, capacity %s", m, names, used, c)
		}
	}
	for m, names := range on {
		for _, a := range names {
			for _, b := range names {
				if a == b {
					continue
				}
				if fl[a].ConflictsWith(b) || fl[a].ReplacesUnit(b) {
					t.Errorf("%s and %s share %s", a, b, m)
				}
			}
		}
	}
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
