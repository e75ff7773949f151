package schedule

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/flotilla-os/flotilla/internal/unit"
)

// snapshotFrom decodes fuzz bytes into a small snapshot: a few machines with
// metadata, and units with random [X-Fleet] rules and current placements.
func snapshotFrom(data []byte) Snapshot {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	var s Snapshot
	nm := next() % 6
	for i := 0; i < nm; i++ {
		md := next() // its remainder by 3 is metadata; a high value cordons
		s.Machines = append(s.Machines, Machine{ID: fmt.Sprintf("m%d", i), Metadata: map[string]string{"r": fmt.Sprint(md % 3)}, Cordoned: md >= 192})
		if c := next(); c%4 != 0 { // else: reports no capacity
			s.Machines[i].Capacity = unit.Resources{Memory: int64(c%5) << 30, MilliCPU: int64(c%3) * 1000}
		}
	}
	if nm > 0 && next()%2 == 0 {
		// Long IDs that MachineID=0123abcd (a short ID) may name.
		s.Machines[0].ID = "0123abcd0000"
		if nm > 1 {
			s.Machines[1].ID = "0123abcd1111"
		}
	}
	names := []string{"a.service", "b.service", "c.service", "web@1.service", "web@2.service", "web@3.service", "g.service", "d.service", "h.service"}
	nu := next() % (len(names) + 1)
	s.Current = map[string][]string{}
	for i := 0; i < nu; i++ {
		name := names[i]
		var fl unit.Fleet
		flags := next()
		if (name == "g.service" || name == "h.service") && flags&1 != 0 {
			fl.Global = true
			if flags&8 != 0 {
				fl.Conflicts = []string{[]string{"web@*.service", "a.service", "*", "g.service"}[next()%4]}
			}
		} else {
			if flags&2 != 0 {
				fl.MachineID = []string{"m0", "m1", "m2", "m3", "m6", "0123abcd", "0123abcd0000"}[next()%7]
			}
			if flags&4 != 0 && !(fl.MachineID != "") {
				if t := names[next()%len(names)]; t != name {
					fl.MachineOf = []string{t}
				}
			}
			if flags&8 != 0 {
				fl.Conflicts = []string{[]string{"web@*.service", "a.service", "*", "?.service"}[next()%4]}
			}
			if flags&16 != 0 {
				if t := append(names, "web@*.service", "?.service")[next()%(len(names)+2)]; t != name {
					fl.Replaces = []string{t}
				}
			}
		}
		if flags&32 != 0 {
			fl.MachineMetadata = map[string][]string{"r": {fmt.Sprint(next() % 3)}}
			if flags&64 != 0 {
				fl.MachineMetadata["r"] = append(fl.MachineMetadata["r"], fmt.Sprint(next()%3))
			}
		}
		if flags&128 != 0 {
			c := next()
			fl.Reserve = unit.Resources{Memory: int64(c%4) << 29, MilliCPU: int64(c/4%3) * 500}
		}
		s.Units = append(s.Units, Unit{Name: name, Fleet: fl})
		if c := next(); c%3 != 0 {
			s.Current[name] = []string{fmt.Sprintf("m%d", c%7)}
		}
	}
	return s
}

// FuzzPlace checks Place on random small snapshots: it never panics, every
// unit is accounted for exactly once, every rule holds in the result (no
// machine holds more reservations than its capacity), and the
// result is a fixed point: feeding its placements back as Current changes
// nothing (stability); and Rebalance's moves leave a placement Place keeps.
func FuzzPlace(f *testing.F) {
	f.Add([]byte{3, 0, 1, 2, 8, 8, 0, 1, 8, 0, 1, 8, 0, 1})
	f.Add([]byte{2, 0, 0, 6, 16, 1, 1, 2, 0, 1, 0, 4, 1, 2})
	f.Add([]byte{4, 0, 1, 2, 0, 8, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := snapshotFrom(data)
		r, settled := place(s)
		if !settled {
			t.Fatalf("placement did not settle (a pass still evicted when the bound on passes was reached)")
		}
		if len(r.Placements)+len(r.Unplaceable) != len(s.Units) {
			t.Fatalf("%d placed + %d unplaceable != %d units", len(r.Placements), len(r.Unplaceable), len(s.Units))
		}
		for name, why := range r.Unplaceable {
			if why == "" || why == "not placed" {
				t.Fatalf("%s unplaceable without a reason", name)
			}
		}
		checkInvariants(t, s, r)
		for name, ms := range r.Placements {
			for _, m := range ms {
				if slices.ContainsFunc(s.Machines, func(x Machine) bool { return x.ID == m && x.Cordoned }) && !slices.Contains(s.Current[name], m) {
					t.Fatalf("%s newly placed on cordoned %s", name, m)
				}
			}
		}
		s2 := s
		s2.Current = r.Placements
		if r2 := Place(s2); !reflect.DeepEqual(r.Placements, r2.Placements) {
			t.Fatalf("not a fixed point:\nsnapshot %+v\nfirst  %v\nsecond %v", s, r.Placements, r2.Placements)
		}
		// A rebalance leaves a valid placement that Place keeps.
		checkRebalance(t, s)
	})
}
